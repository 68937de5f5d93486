"""Poison records: a value that cannot be cast or stored quarantines its record; the rest loads."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crmsync import page
from crmsync.models import Client, QuarantineRecord
from crmsync.store import Store
from flows.sync import sync_integration

# CRM property -> (the CS field it loads into, poison values)
POISON = {
    "numberofemployees": ("employees", ("1e20", "1e309", "3000000000")),  # int64, infinity, INTEGER
    "annualrevenue": ("annual_revenue", ("1e20", "1e309")),  # beyond NUMERIC(18, 2), infinity
    "name": ("name", ("Acme\x00Corp",)),  # PostgreSQL text cannot hold NUL
    "industry": ("industry", ("x" * 300,)),  # beyond VARCHAR(255)
}


def _poison(app) -> dict[str, str]:
    """Write each poison value into its own sandbox company; CRM id -> the CS field poisoned."""
    companies = sorted(app.store("companies").live.values(), key=lambda r: r.id)
    poisoned, records = {}, iter(companies)
    for prop, (cs_field, values) in POISON.items():
        for value in values:
            record = next(records)
            record.props[prop] = value
            poisoned[str(record.id)] = cs_field
    return poisoned


# The poison values are seeded into the HubSpot sandbox's store (Salesforce's are not written yet).
@pytest.mark.parametrize("crm", ["hubspot"], indirect=True)
def test_poison_values_quarantine_their_record_and_the_rest_loads(crm, backend):
    hubspot_crm = crm
    poisoned = _poison(hubspot_crm.running.app)
    store = Store()
    page.connect(store, "hubspot")
    result = sync_integration("hubspot")
    assert [o["status"] for o in result["objects"]] == ["completed"] * 3
    with store.session() as s:
        clients = s.exec(select(Client)).all()
        quarantined = s.exec(select(QuarantineRecord).where(QuarantineRecord.cs_object == "clients")).all()
    assert len(clients) == 40 - len(poisoned)
    assert sorted(q.record_key for q in quarantined) == sorted(poisoned)
    for q in quarantined:
        assert poisoned[q.record_key] in q.reason
        assert "\x00" not in q.reason
    # The next run completes too: a poison record never blocks the integration.
    again = sync_integration("hubspot")
    assert [o["status"] for o in again["objects"]] == ["completed"] * 3
