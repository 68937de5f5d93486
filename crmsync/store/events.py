"""The per-record history: one event per record a chunk created, updated, conflicted, quarantined
or replayed, built from the chunk's batch lists and written in the chunk's own transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from crmsync.models import RecordEvent
from crmsync.store.bulk import encode, insert_many
from crmsync.store.types import PullBatch, PushBatch, Scope


def _event(cs_id: Any, external_id: Any, action: str, values: dict[str, Any]) -> dict[str, Any]:
    """One event row; values as JSON (dates and decimals as text, the way a reader shows them)."""
    return {
        "cs_id": None if cs_id is None else int(cs_id),
        "external_id": None if external_id is None else str(external_id),
        "action": action,
        "values": encode(values),
    }


def _quarantined(rows: list[dict[str, Any]], key_is_cs: bool) -> list[dict[str, Any]]:
    """Quarantine rows as events; their key is a CS id (push) or a CRM id (pull)."""
    return [
        _event(
            row["record_key"] if key_is_cs else None,
            None if key_is_cs else row["record_key"],
            "quarantined",
            {"reason": row["reason"], "rule": row["rule"]},
        )
        for row in rows
    ]


def pull_events(batch: PullBatch, created: list[int], replayed: list[str]) -> list[dict[str, Any]]:
    """The events of one pulled chunk (``created``: the new CS ids, in the order of ``batch.creates``)."""
    made = [
        _event(cs_id, row["_link"]["external_id"], "created", {k: v for k, v in row.items() if k != "_link"})
        for cs_id, row in zip(created, batch.creates, strict=True)
    ]
    external_of = {link["cs_id"]: link.get("external_id") for link in [*batch.new_links, *batch.link_updates]}
    updated = [
        _event(u["id"], external_of.get(u["id"]), "updated", {k: v for k, v in u.items() if k != "id"})
        for u in batch.updates
    ]
    conflicts = [
        _event(
            c["cs_id"],
            c["external_id"],
            "conflict",
            {k: v for k, v in c.items() if k not in ("cs_id", "external_id")},
        )
        for c in batch.conflicts
    ]
    replays = [_event(None, key, "replayed", {}) for key in replayed]
    return [*made, *updated, *conflicts, *_quarantined(batch.quarantine, False), *replays]


def push_events(batch: PushBatch, replayed: list[str]) -> list[dict[str, Any]]:
    """The events of one pushed chunk: the values each record sent, its quarantine and replays."""
    made = [
        _event(n["cs_id"], n["external_id"], "created", batch.sent.get(str(n["cs_id"]), {}))
        for n in batch.new_links
    ]
    updated = [
        _event(u["cs_id"], u.get("external_id"), "updated", batch.sent.get(str(u["cs_id"]), {}))
        for u in batch.link_updates
    ]
    replays = [_event(key, None, "replayed", {}) for key in replayed]
    return [*made, *updated, *_quarantined(batch.quarantine, True), *replays]


def write_events(
    s: Session, scope: Scope, direction: str, events: list[dict[str, Any]], run_id: str, now: datetime
) -> None:
    """Insert a chunk's events (one executemany) inside the chunk's session."""
    same = {
        "integration": scope.integration,
        "cs_object": scope.cs_object,
        "direction": direction,
        "run_id": run_id,
        "at": now,
    }
    insert_many(s.connection(), RecordEvent.__table__, events, same)


def prune_events(s: Session, now: datetime, days: int) -> int:
    """Forget history older than ``days``: one DELETE."""
    statement = sa.delete(RecordEvent).where(RecordEvent.at < now - timedelta(days=days))
    return s.connection().execute(statement).rowcount
