"""``crmsync explain`` against the sandboxes: both sides, the deciding level of the hierarchy for
each case of the direction table, one-line verdicts, and the record's history."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml

from crmsync import config, page
from crmsync.audit.explain import explain
from crmsync.models import Client
from crmsync.store import Store
from crmsync.sync.context import open_context
from flows.sync import sync_integration

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
HEADERS = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


def _mapping_with(kind: str, directions: dict[str, str]) -> None:
    """Give some clients fields their own direction in the integration's mapping file."""
    path = config.mapping_path(kind)
    doc = yaml.safe_load(path.read_text())
    clients = next(o for o in doc["objects"] if o["cs_object"] == "clients")
    for field in clients["fields"]:
        field["direction"] = directions.get(field["cs"], field["direction"])
    path.write_text(yaml.safe_dump(doc))


def _fields(store: Store, kind: str, record: str) -> dict[str, dict]:
    return {f["field"]: f for f in explain(open_context(store, kind, "clients"), record)["fields"]}


def _edit(store: Store, cs_id: int, **values) -> None:
    with store.session() as s:
        s.exec(sa.update(Client).where(Client.id == cs_id).values(**values))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_explain_names_the_deciding_level_for_each_direction_case(crm):
    store = Store()
    page.connect(store, crm.kind)
    _mapping_with(crm.kind, {"industry": "pull", "phone": "push"})
    sync_integration(crm.kind)
    cs_id = min(store.state.links_by_cs(open_context(store, crm.kind, "clients").scope, range(1, 100)))
    record = str(cs_id)

    both = _fields(store, crm.kind, record)  # Push & Pull: every field does what its mapping says
    assert (both["name"]["effective"], both["name"]["decided_by"]) == ("both", "field mapping")
    assert (both["industry"]["effective"], both["industry"]["decided_by"]) == ("pull", "field mapping")
    assert both["name"]["verdict"] == "in sync"

    store.settings.set_direction(crm.kind, "clients", "push")  # push-only object, a pull field
    push = _fields(store, crm.kind, record)
    assert push["industry"]["effective"] == "none"
    assert (push["industry"]["decided_by"], push["industry"]["why"]) == (
        "object direction",
        "the object is push only",
    )
    assert (push["phone"]["effective"], push["phone"]["decided_by"]) == ("push", "field mapping")

    store.settings.set_direction(crm.kind, "clients", "pull")  # pull-only object, a push field
    _edit(store, cs_id, phone="+1 555 0100", name="Edited in ClientSuccess")
    pull = _fields(store, crm.kind, record)
    assert pull["phone"]["effective"] == "none"
    assert (pull["phone"]["decided_by"], pull["phone"]["why"]) == (
        "object direction",
        "the object is pull only",
    )
    assert pull["phone"]["verdict"] == "not synced: the object is pull only"
    assert pull["name"]["verdict"] == "pull only: ClientSuccess edits are not pushed"

    store.settings.set_direction(crm.kind, "clients", "disabled")
    disabled = _fields(store, crm.kind, record)
    assert {f["decided_by"] for f in disabled.values()} == {"object direction"}
    assert {f["why"] for f in disabled.values()} == {"the object is disabled"}

    store.settings.set_direction(crm.kind, "clients", "push-pull")
    store.settings.set_enabled(crm.kind, False)
    paused = _fields(store, crm.kind, record)
    assert {(f["effective"], f["decided_by"], f["why"]) for f in paused.values()} == {
        ("none", "global toggle", "the integration is paused")
    }


def test_explain_shows_both_sides_history_conflicts_and_quarantine(crm):
    store = Store()
    page.connect(store, crm.kind)
    sync_integration(crm.kind)
    scope = open_context(store, crm.kind, "clients").scope
    links = store.state.links_by_cs(scope, range(1, 100))
    link = links[min(links)]
    cs_id, external_id = link.cs_id, link.external_id
    status, name = crm.fields["status"], crm.fields["name"]

    crm.edit("clients", external_id, {name: "Renamed in the CRM"})
    waiting = _fields(store, crm.kind, external_id)  # by CRM id: read live, before any sync
    assert waiting["name"]["crm_value"] == "Renamed in the CRM"
    assert (
        waiting["name"]["verdict"]
        == f"waiting for the next run: changed in {HEADERS[crm.kind]} after the last sync"
    )

    base = _fields(store, crm.kind, str(cs_id))["status"]["cs_value"]
    crm_value, cs_value = [v for v in ("Active", "Trial", "Inactive", "Terminated") if v != base][:2]
    crm.edit("clients", external_id, {status: crm_value})
    _edit(store, cs_id, status=cs_value.lower())  # the newer edit: newest wins, so ClientSuccess wins
    sync_integration(crm.kind, ["clients"])
    _edit(store, cs_id, status="Churned")  # no such option in the CRM: quarantined on push
    sync_integration(crm.kind, ["clients"])

    domain = _fields(store, crm.kind, str(cs_id))["domain"]["cs_value"]
    result = _cli("explain", crm.kind, "clients", domain.upper(), "--json")  # by match key
    assert result.returncode == 0, result.stderr
    told = json.loads(result.stdout)
    assert (told["cs_id"], told["external_id"], told["linked"]) == (cs_id, external_id, True)
    fields = {f["field"]: f for f in told["fields"]}
    assert fields["status"]["verdict"].startswith("quarantined: status 'Churned' has no match among the")
    assert fields["status"]["synced_value"] == cs_value.lower()
    actions = [(e["direction"], e["action"]) for e in told["history"]]
    assert (
        ("pull", "created") in actions
        and ("pull", "updated") in actions
        and ("push", "quarantined") in actions
    )
    [conflict] = [e["values"] for e in told["history"] if e["action"] == "conflict"]
    assert (conflict["field_name"], conflict["policy"], conflict["winner"]) == ("status", "newest", "cs")
    assert (
        told["quarantine"][0]["rule"] == "crm_option_match" and told["quarantine"][0]["replayed_at"] is None
    )

    _edit(store, cs_id, status="Active")
    sync_integration(crm.kind, ["clients"])
    table = _cli("explain", crm.kind, "clients", str(cs_id))
    assert table.returncode == 0, table.stderr
    assert "replayed" in table.stdout and "History" in table.stdout

    missing = _cli("explain", crm.kind, "clients", "no-such-record.example")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: no clients record answers to 'no-such-record.example' in {crm.kind}"
    ]
