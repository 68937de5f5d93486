"""The page's shared data and actions (crmsync.page) that the web page added: why, warnings, problems."""

from __future__ import annotations

import pytest

from crmsync import config, page
from crmsync.models import QuarantineRecord
from crmsync.store import Store, UnknownName


@pytest.fixture
def store(crmsync_home) -> Store:
    store = Store()
    page.connect(store, "hubspot")
    return store


def _fields(data: dict, cs_object: str) -> dict[str, dict]:
    obj = next(o for o in data["objects"] if o["cs_object"] == cs_object)
    return {f["cs_field"]: f for f in obj["fields"]}


def test_each_field_says_why_its_direction_is_overridden(store):
    store.settings.set_direction("hubspot", "contacts", "pull")
    fields = _fields(page.page(store, "hubspot"), "contacts")
    assert fields["email"]["effective"] == "pull" and fields["email"]["why"] == "the object is pull only"
    assert _fields(page.page(store, "hubspot"), "clients")["industry"]["why"] is None
    store.settings.set_enabled("hubspot", False)
    assert {f["why"] for f in _fields(page.page(store, "hubspot"), "clients").values()} == {
        "the integration is paused"
    }


def test_the_case_warning_fields_are_two_way_value_maps_on_hubspot_only(store):
    hubspot = {o["cs_object"]: o["exact_case_fields"] for o in page.page(store, "hubspot")["objects"]}
    assert hubspot == {"clients": ["status"], "contacts": [], "subscriptions": []}
    page.connect(store, "salesforce")
    assert all(not o["exact_case_fields"] for o in page.page(store, "salesforce")["objects"])


def test_retry_notes_follow_the_schedule_and_the_hierarchy(store):
    data = page.page(store, "hubspot")
    assert page.retry_note(data, "clients", "push") == "on the next Pull now (the schedule is manual only)"
    assert page.retry_note(data, "clients", "pull").startswith("when the record changes in HubSpot again")
    store.settings.set_schedule("hubspot", "5m")
    data = page.page(store, "hubspot")
    assert page.retry_note(data, "clients", "push") == f"on the next pull ({data['next_pull']})"
    store.settings.set_direction("hubspot", "clients", "pull")
    data = page.page(store, "hubspot")
    assert page.retry_note(data, "clients", "push") == "not retried while the object is pull only"
    store.settings.set_enabled("hubspot", False)
    data = page.page(store, "hubspot")
    assert page.retry_note(data, "clients", "pull") == "not retried while the integration is paused"


def test_problems_list_quarantine_per_object_newest_first(store):
    with store.session() as s:
        for key in ("1", "2", "3"):
            s.add(
                QuarantineRecord(
                    integration="hubspot",
                    cs_object="contacts",
                    direction="pull",
                    record_key=key,
                    raw={"email": f"p{key}@example.com", "properties": {"x": 1}},
                    reason="email is not an email",
                    rule="expect_column_values_to_match_regex",
                )
            )
    problems = {p["cs_object"]: p for p in page.problems(store, "hubspot", limit=2)}
    contacts = problems["contacts"]
    assert contacts["quarantine_total"] == 3
    assert [q["what"] for q in contacts["quarantine"]] == [
        "pull of contacts record 3",
        "pull of contacts record 2",
    ]
    assert contacts["quarantine"][0]["record"] == "email=p3@example.com"
    assert contacts["last_run"] is None and contacts["conflicts"] == []
    assert problems["clients"]["quarantine_total"] == 0


def test_pull_now_skips_a_paused_integration_and_checks_names_first(store):
    with pytest.raises(UnknownName):
        page.pull_now(store, "hubspot", ["tickets"])
    store.settings.set_enabled("hubspot", False)
    assert page.pull_now(store, "hubspot") == {
        "integration": "hubspot",
        "status": "skipped",
        "objects": [],
        "flow_run_id": None,
    }


def test_delete_everywhere_without_a_prefect_server(store, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert page.delete_everywhere(store, "hubspot") == []
    assert store.settings.integrations() == [] and not config.mapping_path("hubspot").exists()
