"""Deleted CRM records reach the links; HubSpot's archive is swept on its own cadence, not every run."""

from __future__ import annotations

from sqlmodel import select

from crmsync import page
from crmsync.connectors import open_connector
from crmsync.models import RecordLink
from crmsync.store import Store
from flows.sync import sync_integration


def _company_links(store: Store) -> set[str]:
    with store.session() as s:
        rows = s.exec(select(RecordLink).where(RecordLink.cs_object == "clients"))
        return {row.external_id for row in rows}


def _archive_list_calls(sandbox) -> int:
    return sum(
        n for label, n in sandbox.app.counters.items() if label.startswith("list") and "companies" in label
    )


def test_hubspot_archive_is_swept_when_due_and_unlinks(
    crmsync_home, hubspot_sandbox, prefect_api, monkeypatch
):
    store = Store()
    page.connect(store, "hubspot")
    store.settings.set_direction("hubspot", "clients", "pull")  # nothing pushed back after the unlink
    sync_integration("hubspot", ["clients"])
    linked = _company_links(store)
    gone = sorted(linked)[0]
    connector = open_connector("hubspot")
    connector._client.api("crm", "companies", "basic_api").archive(gone)

    hubspot_sandbox.app.reset_counters()
    sync_integration("hubspot", ["clients"])  # the sweep ran a moment ago: not due for an hour
    assert _archive_list_calls(hubspot_sandbox) == 0
    assert gone in _company_links(store)

    monkeypatch.setenv("CRMSYNC_HUBSPOT_DELETE_SWEEP_MINUTES", "0")  # every run
    sync_integration("hubspot", ["clients"])
    assert _archive_list_calls(hubspot_sandbox) >= 1
    assert _company_links(store) == linked - {gone}


def test_a_quiet_run_makes_one_api_call_per_object(crm):
    store = Store()
    page.connect(store, crm.kind)
    sync_integration(crm.kind)
    sync_integration(crm.kind)  # settles what the first run pushed back
    crm.reset()
    result = sync_integration(crm.kind)
    assert all(o["status"] == "completed" and o["extracted"] == o["unchanged"] for o in result["objects"])
    assert crm.calls() <= 3, dict(crm.running.app.counters)
    assert crm.write_calls() == 0


def test_salesforce_deletions_come_with_the_changes_and_unlink(crmsync_home, prefect_api, monkeypatch):
    from crmsync.sandbox.salesforce import start_salesforce
    from crmsync.sandbox.salesforce.store import Op

    running = start_salesforce(10, 10, 10)
    for key, value in running.env().items():
        monkeypatch.setenv(key, value)
    try:
        store = Store()
        page.connect(store, "salesforce")
        store.settings.set_direction("salesforce", "clients", "pull")
        sync_integration("salesforce", ["clients"])
        linked = _company_links(store)
        gone = sorted(linked)[0]
        running.sf.org.store("Account").apply([Op("delete", id=gone)])
        running.sf.reset_counters()
        result = sync_integration("salesforce", ["clients"])
        assert result["objects"][0]["deleted"] == 1
        assert _company_links(store) == linked - {gone}
        assert running.sf.counters["query"] == 1  # changed and deleted together, no COUNT(), no sweep
    finally:
        running.stop()
