"""The row writes a chunk commit is made of: links, quarantine and cursors, inside its session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from crmsync.models import QuarantineRecord, RecordLink, SyncCursor, utcnow
from crmsync.store.bulk import insert_many, member_of
from crmsync.store.types import Scope


def _upsert(
    session: Session, table: type, rows: list[dict[str, Any]], keys: list[str], update: list[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: getattr(statement.excluded, name) for name in update}
    )
    # Core executemany: the ORM's bulk path costs more than the insert itself at thousands of rows.
    session.connection().execute(statement, rows)


def write_links(
    s: Session,
    scope: Scope,
    new: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Upsert new links (one per CS record) and refresh the synced values of existing ones."""
    owner = {
        "integration": scope.integration,
        "cs_object": scope.cs_object,
        "external_object": scope.external_object,
    }
    if new:
        rows = [
            {
                "cs_id": link["cs_id"],
                "external_id": link["external_id"],
                "synced_values": link["synced_values"],
                "parent_external_id": link.get("parent_external_id"),
            }
            for link in new
        ]
        insert_many(
            s.connection(),
            RecordLink.__table__,
            rows,
            {**owner, "synced_at": now},
            upsert=(
                ["integration", "cs_object", "cs_id"],
                ["external_object", "external_id", "synced_values", "synced_at", "parent_external_id"],
            ),
        )
    _refresh_links(s, scope, updates, now)


def _refresh_links(s: Session, scope: Scope, updates: list[dict[str, Any]], now: datetime) -> None:
    """New synced values (and pending parent) of existing links, one executemany."""
    if updates:
        statement = (
            sa.update(RecordLink)
            .where(
                RecordLink.integration == scope.integration,
                RecordLink.cs_object == scope.cs_object,
                RecordLink.cs_id == sa.bindparam("_cs_id"),
            )
            .values(
                synced_values=sa.bindparam("_values"),
                synced_at=now,
                parent_external_id=sa.bindparam("_parent"),
            )
        )
        s.connection().execute(
            statement,
            [
                {
                    "_cs_id": u["cs_id"],
                    "_values": u["synced_values"],
                    "_parent": u.get("parent_external_id"),
                }
                for u in updates
            ],
        )


def write_quarantine(
    s: Session,
    scope: Scope,
    direction: str,
    rows: list[dict[str, Any]],
    loaded_keys: list[str],
    run_id: str,
    now: datetime,
) -> list[str]:
    """Upsert quarantined records and mark as replayed those that loaded this time (their keys)."""
    owner = {"integration": scope.integration, "cs_object": scope.cs_object, "direction": direction}
    _upsert(
        s,
        QuarantineRecord,
        [
            {
                **owner,
                **row,
                "run_id": run_id,
                "first_seen_at": now,
                "last_seen_at": now,
                "replayed_at": None,
                "due_at": row.get("due_at"),  # None: the back-off decides; a time: retry then
            }
            for row in rows
        ],
        ["integration", "cs_object", "direction", "record_key"],
        ["raw", "reason", "rule", "run_id", "last_seen_at", "replayed_at", "due_at"],
    )
    if not loaded_keys:
        return []
    replayed = s.exec(
        sa.update(QuarantineRecord)
        .where(
            QuarantineRecord.integration == scope.integration,
            QuarantineRecord.cs_object == scope.cs_object,
            QuarantineRecord.direction == direction,
            member_of(col(QuarantineRecord.record_key), loaded_keys, s.bind.dialect.name),
            col(QuarantineRecord.replayed_at).is_(None),
        )
        .values(replayed_at=now)
        .returning(QuarantineRecord.record_key)
    )
    return [row[0] for row in replayed]


def write_cursor(s: Session, scope: Scope, direction: str, position: tuple[datetime, str]) -> None:
    """Move the scope's cursor of ``direction`` (pull, push or deleted) to ``position``."""
    _upsert(
        s,
        SyncCursor,
        [
            {
                "integration": scope.integration,
                "cs_object": scope.cs_object,
                "external_object": scope.external_object,
                "direction": direction,
                "position_at": position[0],
                "position_id": str(position[1]),
                "updated_at": utcnow(),
            }
        ],
        ["integration", "cs_object", "external_object", "direction"],
        ["position_at", "position_id", "updated_at"],
    )


def replay_linked(s: Session, scope: Scope, new_links: list[dict[str, Any]], now: datetime) -> None:
    """Quarantined records that just got linked (a lost push answer found by its CS id) are replayed."""
    keys = {
        "push": [str(link["cs_id"]) for link in new_links if link.get("cs_id") is not None],
        "pull": [str(link["external_id"]) for link in new_links if link.get("external_id")],
    }
    for direction, linked in keys.items():
        if not linked:
            continue
        s.exec(
            sa.update(QuarantineRecord)
            .where(
                QuarantineRecord.integration == scope.integration,
                QuarantineRecord.cs_object == scope.cs_object,
                QuarantineRecord.direction == direction,
                member_of(col(QuarantineRecord.record_key), linked, s.bind.dialect.name),
                col(QuarantineRecord.replayed_at).is_(None),
            )
            .values(replayed_at=now)
        )
