"""The page over HTTP: bad values, escaping, secrets, item 9, the case warning, problems, pull now."""

from __future__ import annotations

import html
import threading
from urllib.parse import quote

import pytest
import yaml
from markupsafe import escape

from crmsync import config, page
from crmsync.errors import CrmsyncError
from crmsync.models import Conflict, Integration, ObjectSetting, QuarantineRecord
from crmsync.store import Store
from crmsync.ui.runs import RunBusy, Runs
from tests.ui.conftest import csrf_token

HOSTILE = '"><img src=x onerror=alert(1)>'


def _snapshot() -> tuple:
    store = Store()
    row = store.settings.integration("hubspot")
    objects = [
        (s.cs_object, s.external_object, s.direction) for s in store.settings.object_settings("hubspot")
    ]
    return row.enabled, row.schedule, row.next_pull_at, objects


def _post(client, action: str, form: dict[str, str]):
    token = csrf_token(client.get("/i/hubspot").text, f"/i/hubspot/{action}")
    return client.post(f"/i/hubspot/{action}", data={**form, "csrf_token": token}, follow_redirects=False)


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        ("toggle", {"state": "maybe"}, "unknown toggle state 'maybe' (valid: on, off)"),
        ("toggle", {}, "the form has no value for 'state'"),
        ("direction", {"cs_object": "contacts", "direction": "sideways"}, "unknown direction 'sideways'"),
        ("direction", {"cs_object": "tickets", "direction": "pull"}, "unknown object 'tickets'"),
        (
            "object",
            {"cs_object": "clients", "external_object": "tickets"},
            "unknown HubSpot object 'tickets'",
        ),
        (
            "object",
            {"cs_object": "clients", "external_object": "contacts"},
            "no field mappings for clients -> contacts",
        ),
        ("schedule", {"schedule": "7m"}, "unknown pull schedule '7m'"),
        ("delete", {"confirm_name": "HubSpot"}, "not deleted: type the integration's exact name to confirm"),
        ("delete", {}, "not deleted"),
    ],
)
def test_a_bad_value_shows_its_reason_and_changes_nothing(client, action, form, message):
    before = _snapshot()
    response = _post(client, action, form)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert message in html.unescape(response.text)
    assert _snapshot() == before
    assert [row.name for row in Store().settings.integrations()] == ["hubspot"]
    assert config.mapping_path("hubspot").exists()


def test_good_values_are_saved_and_said(client):
    response = _post(client, "direction", {"cs_object": "contacts", "direction": "push"})
    assert response.status_code == 303 and response.headers["location"] == "/i/hubspot?saved=direction"
    shown = client.get(response.headers["location"]).text
    assert "Sync direction saved." in shown
    assert Store().settings.object_setting("hubspot", "contacts").direction == "push"
    assert '<option value="push" selected>Push to HubSpot</option>' in shown


def test_unknown_integrations_are_a_visible_404(client, store):
    assert client.get("/i/nope").status_code == 404
    token = client.app.state.guard.csrf_token("/i/nope/toggle")
    response = client.post("/i/nope/toggle", data={"state": "off", "csrf_token": token})
    assert response.status_code == 404 and "unknown integration 'nope'" in html.unescape(response.text)


def test_credentials_are_never_shown(client, monkeypatch):
    secrets = {
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-0123-very-secret",
        "SALESFORCE_ACCESS_TOKEN": "00Dxx!very-secret-session",
        "SALESFORCE_PASSWORD": "hunter2-very-secret",
        "SALESFORCE_SECURITY_TOKEN": "sec-very-secret",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    page.connect(Store(), "salesforce")
    bodies = [
        client.get(path).text for path in ("/", "/i/hubspot", "/i/salesforce", "/i/hubspot/pull", "/login")
    ]
    for body in bodies:
        assert "very-secret" not in body


def test_hostile_names_and_crm_values_are_escaped(client, store):
    with store.session() as s:
        s.add(Integration(name=HOSTILE, kind="hubspot", header="HubSpot"))
        s.flush()
        s.add(ObjectSetting(integration=HOSTILE, cs_object="clients", external_object="companies"))
        s.add(
            QuarantineRecord(
                integration="hubspot",
                cs_object="clients",
                direction="pull",
                record_key="<b>42</b>",
                raw={"name": "<script>alert(3)</script>"},
                reason="<script>alert(4)</script> is not a status",
                rule="values",
            )
        )
    mapping = yaml.safe_load(config.mapping_path("hubspot").read_text())
    status = next(f for f in mapping["objects"][0]["fields"] if f["cs"] == "status")
    status["external"] = "<img src=x onerror=alert(2)>"
    status["value_map"]["Active"] = "<script>alert(5)</script>"
    config.mapping_path("hubspot").write_text(yaml.safe_dump(mapping))

    listing = client.get("/").text
    hostile_page = client.get(f"/i/{quote(HOSTILE, safe='')}")
    hubspot = client.get("/i/hubspot").text
    assert hostile_page.status_code == 200
    assert client.app.state.views.env.autoescape is True
    for body in (listing, hostile_page.text, hubspot):
        assert "<img src=x" not in body and "<script>alert" not in body and "<b>42" not in body
    assert escape(HOSTILE) in listing and escape(HOSTILE) in hostile_page.text
    assert f'href="/i/{quote(HOSTILE, safe="")}"' in listing
    assert "&lt;img src=x onerror=alert(2)&gt;" in hubspot
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in hubspot
    assert "&lt;script&gt;alert(4)&lt;/script&gt; is not a status" in hubspot


def test_fields_show_mapped_and_effective_directions_and_why(client, store):
    store.settings.set_direction("hubspot", "contacts", "pull")
    shown = html.unescape(client.get("/i/hubspot").text)
    assert shown.count("the object is pull only") == 5  # the contacts' five two-way fields
    store.settings.set_enabled("hubspot", False)
    shown = client.get("/i/hubspot").text
    assert shown.count("the integration is paused") == sum(
        len(o["fields"]) for o in page.page(store, "hubspot")["objects"]
    )
    assert "All sync of this integration is paused." in shown


def test_item_9_offers_import_and_preview(client):
    shown = client.get("/i/hubspot").text
    assert "Import/Sync Fields/Sync Preview" in shown
    assert shown.count("Not available yet") == 0
    assert "<code>crmsync fields hubspot</code>" in shown
    assert 'action="/i/hubspot/fields"' in shown and 'action="/i/hubspot/preview"' in shown


def test_the_case_warning_shows_where_a_two_way_value_map_meets_hubspot(client):
    warning = "The ClientSuccess API is not case sensitive, but the HubSpot API is."
    assert warning in client.get("/i/hubspot").text
    page.connect(Store(), "salesforce")
    assert "not case sensitive" not in client.get("/i/salesforce").text


def test_quarantine_and_conflicts_say_what_why_and_when(client, store):
    with store.session() as s:
        s.add(
            QuarantineRecord(
                integration="hubspot",
                cs_object="clients",
                direction="push",
                record_key="7",
                raw={"id": 7, "name": "Acme", "status": "Churned"},
                reason="status 'Churned' has no match among the HubSpot options",
                rule="crm_option_match",
            )
        )
        s.add(
            Conflict(
                integration="hubspot",
                cs_object="contacts",
                cs_id=3,
                external_id="901",
                field_name="title",
                base_value="CTO",
                cs_value="CEO",
                external_value="Founder",
                policy="newest",
                winner="external",
            )
        )
    shown = html.unescape(client.get("/i/hubspot").text)
    assert "push of clients record 7" in shown and "name=Acme" in shown
    assert "status 'Churned' has no match among the HubSpot options" in shown
    assert "on the next Pull now (the schedule is manual only)" in shown
    assert "contacts 3 ↔ HubSpot 901" in shown and "newest: HubSpot won" in shown
    store.settings.set_enabled("hubspot", False)
    assert "not retried while the integration is paused" in client.get("/i/hubspot").text


def test_pull_now_of_a_paused_integration_is_skipped(client, store):
    store.settings.set_enabled("hubspot", False)
    response = _post(client, "pull", {})
    assert response.status_code == 303 and response.headers["location"].endswith("?saved=pull#pull")
    client.app.state.runs.wait(30)
    status = client.get("/i/hubspot/pull").json()
    assert status["status"] == "skipped" and status["finished_at"]
    assert "Skipped: the integration is paused" in client.get("/i/hubspot").text
    assert Store().settings.integration("hubspot").latest_pull_at is None


def test_the_runner_keeps_progress_refuses_a_second_run_and_reports_failures(store, monkeypatch):
    release = threading.Event()

    def fake_pull_now(_store, name, objects=None, progress=None):
        progress("hubspot · clients", "pull", 200)
        progress("hubspot · clients", "pull", 50)
        release.wait(10)
        raise CrmsyncError("HubSpot refused the token (401)")

    monkeypatch.setattr(page, "pull_now", fake_pull_now)
    runs = Runs(Store)
    run = runs.start("hubspot")
    with pytest.raises(RunBusy, match="still running"):
        runs.start("hubspot")
    release.set()
    runs.wait(10)
    status = runs.last("hubspot").as_dict()
    assert run.status == "failed" and status["message"] == "HubSpot refused the token (401)"
    assert status["steps"] == [{"step": "hubspot · clients: pull", "records": 250}]
    assert status["prefect_url"] is None
