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
