"""End to end, per CRM: the flows against a sandbox, through the official SDKs over loopback HTTP(S)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlmodel import select

from crmsync import page
from crmsync.mapping.transforms import TRANSFORMS
from crmsync.models import Client, Conflict, Contact, QuarantineRecord, RecordLink, Subscription
from crmsync.store import Store
from flows.sync import sync_integration


def _connect(kind: str) -> Store:
    store = Store()
    page.connect(store, kind)
    return store


def _links(store: Store, integration: str, cs_object: str) -> dict[int, str]:
    with store.session() as s:
        rows = s.exec(
            select(RecordLink).where(RecordLink.integration == integration, RecordLink.cs_object == cs_object)
        )
        return {row.cs_id: row.external_id for row in rows}


def _rows(store: Store, model) -> dict[int, object]:
    with store.session() as s:
        return {row.id: row for row in s.exec(select(model))}


def _domain(value):
    import pandas as pd

    return TRANSFORMS["domain_from_url"](pd.Series([value], dtype="object")).iloc[0]


def test_first_sync_mirrors_the_crm(crm, backend):
    store = _connect(crm.kind)
    assert store.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    result = sync_integration(crm.kind)
    assert [o["status"] for o in result["objects"]] == ["completed"] * 3

    f = crm.fields
    companies = crm.all("clients", [f["name"], f["domain"], f["status"], f["employees"]])
    clients, links = _rows(store, Client), _links(store, crm.kind, "clients")
    assert len(clients) == len(companies) == 40
    assert sorted(links.values()) == sorted(companies)
    for cs_id, external_id in links.items():
        values, client = companies[external_id], clients[cs_id]
        assert client.name == values[f["name"]]
        assert client.domain == _domain(values[f["domain"]])
        assert client.status == values[f["status"]]
        assert client.employees == int(float(values[f["employees"]]))

    people = crm.all("contacts", [f["email"], f["first_name"]])
    contacts, contact_links = _rows(store, Contact), _links(store, crm.kind, "contacts")
    assert len(contacts) == len(people) == 60
    company_of = crm.connector.read_parents(
        crm.objects["contacts"],
        crm.connector.read_by_ids(crm.objects["contacts"], list(people), [f["email"]]),
    )
    client_of_company = {external: cs_id for cs_id, external in links.items()}
    for cs_id, external_id in contact_links.items():
        contact = contacts[cs_id]
        assert contact.email == people[external_id][f["email"]].lower()
        assert contact.first_name == people[external_id][f["first_name"]]
        assert contact.client_id == client_of_company[company_of[external_id]]  # linked to the right client
    assert len(_rows(store, Subscription)) == 30
    assert all(s.client_id is not None for s in _rows(store, Subscription).values())


def test_edits_propagate_by_effective_direction(crm):
    store = _connect(crm.kind)
    sync_integration(crm.kind)
    links = _links(store, crm.kind, "clients")
    (a, a_ext), (b, b_ext) = sorted(links.items())[:2]
    crm.edit("clients", a_ext, {crm.fields["name"]: "Renamed in the CRM"})
    with store.session() as s:
        s.exec(sa.update(Client).where(Client.id == b).values(name="Renamed in ClientSuccess"))

    sync_integration(crm.kind)

    assert _rows(store, Client)[a].name == "Renamed in the CRM"
    names = crm.all("clients", [crm.fields["name"]])
    assert names[b_ext][crm.fields["name"]] == "Renamed in ClientSuccess"

    # Contacts set to "Pull from <CRM>": a CS edit stays home and no write call is made for contacts.
    store.settings.set_direction(crm.kind, "contacts", "pull")
    contact_id, contact_ext = sorted(_links(store, crm.kind, "contacts").items())[0]
    with store.session() as s:
        s.exec(sa.update(Contact).where(Contact.id == contact_id).values(title="Chief Edit Officer"))
    crm.reset()
    result = sync_integration(crm.kind, ["contacts"])
    assert crm.write_calls() == 0
    assert result["objects"][0]["pushed"] == 0
    titles = crm.all("contacts", [crm.fields["title"]])
    assert titles[contact_ext][crm.fields["title"]] != "Chief Edit Officer"


def test_paused_integration_makes_no_calls_and_no_writes(crm):
    store = _connect(crm.kind)
    with store.session() as s:
        s.add(Client(name="Only in ClientSuccess", domain="only-cs.example.net"))
    store.settings.set_enabled(crm.kind, False)
    crm.reset()
    result = sync_integration(crm.kind)
    assert result["status"] == "skipped"
    assert crm.calls() == 0
    assert len(_rows(store, Client)) == 1
    assert _links(store, crm.kind, "clients") == {}


def test_conflict_is_resolved_by_policy_and_nothing_echoes(crm):
    store = _connect(crm.kind)
    sync_integration(crm.kind)
    cs_id, external_id = sorted(_links(store, crm.kind, "clients").items())[0]
    status = crm.fields["status"]
    base = _rows(store, Client)[cs_id].status
    crm_value, cs_value = [v for v in ("Active", "Trial", "Inactive", "Terminated") if v != base][:2]
    crm.edit("clients", external_id, {status: crm_value})
    with store.session() as s:  # the CS edit is the newer one: newest wins, so ClientSuccess wins
        s.exec(sa.update(Client).where(Client.id == cs_id).values(status=cs_value.lower()))

    result = sync_integration(crm.kind, ["clients"])

    assert result["objects"][0]["conflicts"] == 1
    with store.session() as s:
        [conflict] = s.exec(select(Conflict))
    assert (conflict.field_name, conflict.cs_value, conflict.external_value) == (
        "status",
        cs_value.lower(),
        crm_value,
    )
    assert (conflict.base_value, conflict.policy, conflict.winner) == (base, "newest", "cs")
    assert crm.all("clients", [status])[external_id][status] == cs_value  # resolved to the exact option case

    crm.reset()
    again = sync_integration(crm.kind)
    assert crm.write_calls() == 0  # nothing pulled is pushed back, nothing unchanged is pushed
    assert [o["pushed"] for o in again["objects"]] == [0, 0, 0]


def test_bad_rows_are_quarantined_while_the_rest_load(crm):
    store = _connect(crm.kind)
    with store.session() as s:
        s.add(Client(name="Good New Client", domain="good-new.example.net", status="active"))
        s.add(Client(name="Bad Status Client", domain="bad-status.example.net", status="Churned"))
    result = sync_integration(crm.kind, ["clients"])
    clients = result["objects"][0]
    assert clients["pushed"] == 1
    assert clients["quarantined"] == 1
    with store.session() as s:
        [bad] = s.exec(select(QuarantineRecord))
    assert bad.direction == "push"
    assert "status 'Churned' has no match among" in bad.reason
    assert bad.raw["name"] == "Bad Status Client"
    names = {
        v[crm.fields["name"]]: v
        for v in crm.all("clients", [crm.fields["name"], crm.fields["status"]]).values()
    }
    assert names["Good New Client"][crm.fields["status"]] == "Active"
    assert "Bad Status Client" not in names

    with store.session() as s:  # fixed in ClientSuccess: the next run replays it
        s.exec(sa.update(Client).where(Client.name == "Bad Status Client").values(status="Trial"))
    sync_integration(crm.kind, ["clients"])
    with store.session() as s:
        [replayed] = s.exec(select(QuarantineRecord))
    assert replayed.replayed_at is not None


def _sync_in_subprocess(kind: str, crash_at: str | None, prefect_api: str) -> int | str:
    """The exit code of ``crmsync sync``; on an unexpected failure (1), its stderr to show."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    env.pop("CRMSYNC_CRASH_AT", None)
    if crash_at:
        env["CRMSYNC_CRASH_AT"] = crash_at
    done = subprocess.run(
        [sys.executable, "-m", "crmsync", "sync", kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stderr if done.returncode == 1 else done.returncode


@pytest.mark.parametrize("crash_at", ["push.after_write", "pull.before_commit:2"])
def test_killed_mid_load_then_rerun_loses_and_duplicates_nothing(crm, prefect_api, crash_at):
    store = _connect(crm.kind)
    with store.session() as s:
        for i in range(30):
            s.add(Client(name=f"Pushed Client {i}", domain=f"pushed-{i}.example.net", status="Active"))

    assert _sync_in_subprocess(crm.kind, crash_at, prefect_api) == 137  # killed
    assert _sync_in_subprocess(crm.kind, None, prefect_api) == 0

    companies = crm.all("clients", [crm.fields["name"]])
    assert len(companies) == 40 + 30  # each pushed client exists once in the CRM
    clients = _rows(store, Client)
    assert len(clients) == 40 + 30  # each CRM company exists once in ClientSuccess
    links = _links(store, crm.kind, "clients")
    assert len(links) == 70
    assert len(set(links.values())) == 70
    assert len(_rows(store, Contact)) == 60
    assert len(_links(store, crm.kind, "contacts")) == 60


def test_a_contact_moved_to_another_client_moves_in_the_crm_and_nothing_echoes(crm):
    store = _connect(crm.kind)
    sync_integration(crm.kind)
    clients = _links(store, crm.kind, "clients")
    contact_id, contact_ext = sorted(_links(store, crm.kind, "contacts").items())[0]
    current_client = _rows(store, Contact)[contact_id].client_id
    new_client = next(cs_id for cs_id in sorted(clients) if cs_id != current_client)
    with store.session() as s:
        s.exec(sa.update(Contact).where(Contact.id == contact_id).values(client_id=new_client))

    crm.reset()
    result = sync_integration(crm.kind, ["contacts"])

    assert result["objects"][0]["pushed"] == 1
    connector = crm.connector
    obj = crm.objects["contacts"]
    parents = connector.read_parents(obj, connector.read_by_ids(obj, [contact_ext], [crm.fields["email"]]))
    assert parents[contact_ext] == clients[new_client]
    crm.reset()
    again = sync_integration(crm.kind)
    assert crm.write_calls() == 0
    assert _rows(store, Contact)[contact_id].client_id == new_client
    assert [o["pushed"] for o in again["objects"]] == [0, 0, 0]
