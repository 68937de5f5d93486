"""The parity audit against the sandboxes: drift planted on purpose is found, and --repair
re-queues it so that the next normal sync (``sync_integration``) repairs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlmodel import select

from crmsync import page
from crmsync.audit.run import audit_integration
from crmsync.models import Client, QuarantineRecord, RecordLink, Subscription
from crmsync.store import Store
from flows.audit import audit_integration as audit_flow
from flows.sync import sync_integration

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _links(store: Store, cs_object: str) -> dict[int, str]:
    with store.session() as s:
        rows = s.exec(select(RecordLink).where(RecordLink.cs_object == cs_object))
        return {row.cs_id: row.external_id for row in rows}


def _drift(result: dict) -> dict[str, set]:
    """Drift as {kind: {(cs_id, external_id, field)}} over all objects."""
    found: dict[str, set] = {}
    for obj in result["objects"]:
        for row in obj["drift"]:
            found.setdefault(row["kind"], set()).add(
                (obj["object"], row["cs_id"], row["external_id"], row["field"])
            )
    return found


def _artifact(key: str) -> str:
    """The latest table artifact under ``key`` on the Prefect test server, as its raw data."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = [a for a in client.read_artifacts() if a.key == key and a.type == "table"]
    return str(max(artifacts, key=lambda a: a.created).data)


def _remove_in_crm(crm, cs_object: str, external_id: str) -> None:
    """Delete a record in the sandbox itself, behind the sync's back."""
    if crm.kind == "hubspot":
        store = crm.running.app.store(crm.objects[cs_object])
        store.archive(store.live[int(external_id)], crm.running.app.now_ms())
    else:
        from crmsync.sandbox.salesforce.store import Op

        crm.running.sf.org.store(crm.objects[cs_object]).apply([Op("delete", id=external_id)])


def _edit_behind_the_back(store: Store, cs_id: int, **values) -> None:
    """A CS edit that keeps updated_at, as a bulk import would: the push's cursor never sees it."""
    with store.session() as s:
        old = s.get(Client, cs_id).updated_at
        s.exec(sa.update(Client).where(Client.id == cs_id).values(updated_at=old, **values))


def _plant(crm, store: Store) -> dict[str, tuple]:
    clients, contacts, subs = (_links(store, o) for o in ("clients", "contacts", "subscriptions"))
    (a, a_ext), (b, b_ext), (c, c_ext), (d, d_ext) = sorted(clients.items())[:4]
    _edit_behind_the_back(store, a, name="Renamed behind the sync's back")  # two-way field
    # HubSpot pulls industry only; Salesforce syncs it both ways, as a picklist: take another client's.
    with store.session() as s:
        industries = {row.id: row.industry for row in s.exec(select(Client))}
    other = next(v for v in industries.values() if v and v != industries[b])
    _edit_behind_the_back(store, b, industry=other)
    crm.edit("clients", c_ext, {crm.fields["name"]: "Renamed in the CRM"})
    with store.session() as s:  # a lost link: both records are now alone
        s.exec(sa.delete(RecordLink).where(RecordLink.cs_object == "clients", RecordLink.cs_id == d))
    sub, sub_ext = sorted(subs.items())[0]
    with store.session() as s:  # the CS record is gone, its link stays
        s.exec(sa.delete(Subscription).where(Subscription.id == sub))
    contact, contact_ext = sorted(contacts.items())[0]
    _remove_in_crm(crm, "contacts", contact_ext)  # the CRM record is gone, its link stays
    return {
        "field": {
            ("clients", a, a_ext, "name"),
            ("clients", b, b_ext, "industry"),
            ("clients", c, c_ext, "name"),
        },
        "crm_unlinked": {("clients", None, d_ext, None)},
        "cs_unlinked": {("clients", d, None, None)},
        "cs_missing": {("subscriptions", sub, sub_ext, None)},
        "crm_missing": {("contacts", contact, contact_ext, None)},
    }


def test_audit_finds_planted_drift_and_the_next_sync_repairs_it(crm):
    store = Store()
    page.connect(store, crm.kind)
    sync_integration(crm.kind)
    clean = audit_integration(store, crm.kind)
    assert clean["drifted"] == 0, _drift(clean)

    planted = _plant(crm, store)
    found = audit_flow(crm.kind)  # the flow: both sides read in full, a table artifact
    assert _drift(found) == planted
    d = next(iter(planted["cs_unlinked"]))[1]
    assert "linked, but the ClientSuccess record is gone" in _artifact(f"crmsync-audit-{crm.kind}")
    assert _links(store, "clients").get(d) is None  # reporting changes nothing

    cli = subprocess.run(
        [sys.executable, "-m", "crmsync", "audit", crm.kind, "--repair", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    repaired = json.loads(cli.stdout)
    assert _drift(repaired) == planted
    fixed = {obj["object"]: obj["repaired"] for obj in repaired["objects"]}
    assert (fixed["clients"]["links_deleted"], fixed["clients"]["fields_reset"]) == (0, 3)
    assert fixed["clients"]["requeued_pull"] >= 1 and fixed["clients"]["requeued_push"] >= 1  # the lost link
    assert (fixed["contacts"]["links_deleted"], fixed["contacts"]["requeued_push"]) == (1, 1)  # re-created
    assert (fixed["subscriptions"]["links_deleted"], fixed["subscriptions"]["requeued_pull"]) == (1, 1)
    with store.session() as s:
        requeued = {q.record_key for q in s.exec(select(QuarantineRecord)) if q.rule == "audit_requeue"}
    assert str(d) in requeued

    sync_integration(crm.kind)

    after = audit_integration(store, crm.kind)
    assert after["drifted"] == 0, _drift(after)
    assert d in _links(store, "clients")  # the lost link is back, no duplicate was made
    with store.session() as s:
        assert s.exec(select(sa.func.count()).select_from(Client)).one() == 40
        assert all(q.replayed_at for q in s.exec(select(QuarantineRecord)) if q.rule == "audit_requeue")
