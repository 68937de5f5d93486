"""The per-record history: events written in the chunk's own commit, and a bounded retention."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from crmsync import config
from crmsync.errors import ConfigError
from crmsync.models import QuarantineRecord, RecordEvent, utcnow
from crmsync.store import Store
from crmsync.store.types import PullBatch, PushBatch, Scope

SCOPE = Scope("hubspot", "clients", "companies")


def _events(store: Store) -> list[tuple]:
    with store.session() as s:
        rows = s.exec(select(RecordEvent).order_by(RecordEvent.id))
        return [(e.direction, e.action, e.cs_id, e.external_id, e.values) for e in rows]


def _connected(store: Store) -> Store:
    store.settings.connect("hubspot", None, {"clients": "companies"})
    return store


def test_a_pulled_chunk_writes_one_event_per_record_in_its_commit(any_store):
    store = _connected(any_store)
    batch = PullBatch(
        creates=[{"name": "Acme", "_link": {"external_id": "c1", "synced_values": {"name": "Acme"}}}],
        quarantine=[{"record_key": "c9", "raw": {}, "reason": "name is missing", "rule": "not_null"}],
    )
    [cs_id] = store.state.apply_pull(SCOPE, batch, "run-1")
    conflict = {"field_name": "name", "base_value": "A", "cs_value": "B", "external_value": "C"}
    update = PullBatch(
        updates=[{"id": cs_id, "name": "Acme 2"}],
        link_updates=[{"cs_id": cs_id, "external_id": "c1", "synced_values": {"name": "Acme 2"}}],
        conflicts=[
            {"cs_id": cs_id, "external_id": "c1", **conflict, "policy": "newest", "winner": "external"}
        ],
        loaded_keys=["c9"],
    )
    store.state.apply_pull(SCOPE, update, "run-2")
    assert _events(store) == [
        ("pull", "created", cs_id, "c1", {"name": "Acme"}),
        ("pull", "quarantined", None, "c9", {"reason": "name is missing", "rule": "not_null"}),
        ("pull", "updated", cs_id, "c1", {"name": "Acme 2"}),
        ("pull", "conflict", cs_id, "c1", {**conflict, "policy": "newest", "winner": "external"}),
        ("pull", "replayed", None, "c9", {}),
    ]


def test_a_pushed_chunk_records_the_values_it_sent(any_store):
    store = _connected(any_store)
    [cs_id] = store.state.apply_pull(
        SCOPE, PullBatch(creates=[{"name": "Acme", "_link": {"external_id": "c1", "synced_values": {}}}]), "r"
    )
    push = PushBatch(
        link_updates=[{"cs_id": cs_id, "external_id": "c1", "synced_values": {"name": "Acme 3"}}],
        sent={str(cs_id): {"name": "Acme 3"}},
    )
    store.state.apply_push(SCOPE, push, "run-3")
    assert _events(store)[-1] == ("push", "updated", cs_id, "c1", {"name": "Acme 3"})
    with store.session() as s:  # a replay only counts when the record really was in quarantine
        assert s.exec(select(QuarantineRecord)).all() == []


def test_history_older_than_the_retention_is_pruned_in_one_delete(any_store, monkeypatch):
    store = _connected(any_store)
    store.state.apply_pull(
        SCOPE, PullBatch(creates=[{"name": "Acme", "_link": {"external_id": "c1", "synced_values": {}}}]), "r"
    )
    with store.session() as s:
        s.exec(sa.update(RecordEvent).values(at=utcnow() - timedelta(days=91)))
    store.state.apply_pull(
        SCOPE, PullBatch(creates=[{"name": "Beta", "_link": {"external_id": "c2", "synced_values": {}}}]), "r"
    )
    assert store.state.prune_history(config.history_days()) == 1
    assert [e[3] for e in _events(store)] == ["c2"]
    monkeypatch.setenv("CRMSYNC_HISTORY_DAYS", "0")
    with pytest.raises(ConfigError, match="CRMSYNC_HISTORY_DAYS '0' is not a positive number of days"):
        config.history_days()
