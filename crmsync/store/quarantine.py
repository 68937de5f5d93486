"""Quarantine as its users see it: the list, the retry back-off, and a replay on request.

A push record the CRM refused is retried with back-off, not on every run: next after
``last_seen + max(5 min, last_seen - first_seen)``, at most 24 h later (a record that keeps
failing waits longer each time). A change to the record sends it again anyway (the push
cursor), and ``crmsync quarantine --replay`` makes it due now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from crmsync.models import QuarantineRecord, utcnow
from crmsync.store.engine import session

MIN_BACKOFF = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=24)


def next_retry(first_seen: datetime, last_seen: datetime, due_at: datetime | None) -> datetime:
    """When a quarantined record is retried next: a replay's time, else its back-off."""
    if due_at is not None:
        return due_at
    return last_seen + min(MAX_BACKOFF, max(MIN_BACKOFF, last_seen - first_seen))


def _open(integration: str, cs_object: str | None, direction: str | None = None) -> list[Any]:
    where = [QuarantineRecord.integration == integration, col(QuarantineRecord.replayed_at).is_(None)]
    if cs_object:
        where.append(QuarantineRecord.cs_object == cs_object)
    if direction:
        where.append(QuarantineRecord.direction == direction)
    return where


def _retry_times(engine: sa.Engine, integration: str, cs_object: str, direction: str) -> list[tuple]:
    """(key, last seen, next retry) of each open quarantine row of one object and direction."""
    columns = (
        QuarantineRecord.record_key,
        QuarantineRecord.first_seen_at,
        QuarantineRecord.last_seen_at,
        QuarantineRecord.due_at,
    )
    with session(engine) as s:
        rows = s.exec(select(*columns).where(*_open(integration, cs_object, direction))).all()
    return [(key, last, next_retry(first, last, due)) for key, first, last, due in rows]


def due_keys(engine: sa.Engine, integration: str, cs_object: str, direction: str) -> list[str]:
    """Keys of the quarantined records whose retry is due now (the list is small: not the hot path)."""
    now = utcnow()
    return [key for key, _, at in _retry_times(engine, integration, cs_object, direction) if at <= now]


def held_back(engine: sa.Engine, integration: str, cs_object: str, direction: str) -> dict[str, datetime]:
    """Quarantined records still backing off: key -> when last seen (a later change sends them anyway)."""
    now = utcnow()
    rows = _retry_times(engine, integration, cs_object, direction)
    return {key: last for key, last, at in rows if at > now}


def listing(engine: sa.Engine, integration: str, cs_object: str | None = None) -> list[dict[str, Any]]:
    """The records in quarantine, oldest first: key, direction, rule, reason, first/last seen, next retry."""
    with session(engine) as s:
        rows = s.exec(
            select(QuarantineRecord).where(*_open(integration, cs_object)).order_by(QuarantineRecord.id)
        ).all()
    return [
        {
            "object": row.cs_object,
            "key": row.record_key,
            "direction": row.direction,
            "rule": row.rule,
            "reason": row.reason,
            "first_seen": row.first_seen_at.isoformat(),
            "last_seen": row.last_seen_at.isoformat(),
            "next_retry": next_retry(row.first_seen_at, row.last_seen_at, row.due_at).isoformat(),
        }
        for row in rows
    ]


def replay(engine: sa.Engine, integration: str, cs_object: str | None = None) -> int:
    """Clear the back-off of the records in quarantine: the next sync retries them."""
    with session(engine) as s:
        return s.exec(
            sa.update(QuarantineRecord).where(*_open(integration, cs_object)).values(due_at=utcnow())
        ).rowcount
