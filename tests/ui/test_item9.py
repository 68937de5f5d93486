"""Item 9 on the web page: import fields and sync preview, against the HubSpot sandbox."""

from __future__ import annotations

from tests.flows.conftest import WRITE_LABELS


def test_import_fields_and_preview_pages(client, hubspot_sandbox):
    shown = client.get("/i/hubspot/fields", params={"cs_object": "clients"})
    assert shown.status_code == 200
    assert "clientsuccess_status" in shown.text and "Active, Trial, Inactive, Terminated" in shown.text

    hubspot_sandbox.app.reset_counters()
    shown = client.get("/i/hubspot/preview", params={"cs_object": "clients"})
    assert shown.status_code == 200
    assert "pull into ClientSuccess" in shown.text and "Nothing was written anywhere." in shown.text
    counters = hubspot_sandbox.app.counters
    assert not [label for label, n in counters.items() if n and label.startswith(WRITE_LABELS)]

    refused = client.get("/i/hubspot/fields", params={"cs_object": "nothing"})
    assert refused.status_code == 400 and "Import not possible" in refused.text
