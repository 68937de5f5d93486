"""The store's sync side, writes: one transaction per chunk.

Each ``apply_*`` method commits one chunk's rows, links, quarantine, conflicts and cursor in a
single transaction, so a crash anywhere leaves either all of a chunk or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from crmsync.models import CS_MODELS, Conflict, QuarantineRecord, RecordLink, SyncCursor, utcnow
from crmsync.records import PARENT_SYNCED, PullBatch, PushBatch, Scope, in_scope


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
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: getattr(statement.excluded, name) for name in update}
    )
    session.exec(statement, params=rows)


class ChunkCommits:
    """Mixed into ``Store``: the writes of a sync. Needs ``self.session()`` and the reads."""

    def apply_pull(self, scope: Scope, batch: PullBatch, run_id: str) -> list[int]:
        """Commit one pulled chunk; returns the ids of the CS records it created."""
        model = CS_MODELS[scope.cs_object]
        table = model.__table__
        now = utcnow()
        with self.session() as s:
            created: list[int] = []
            if batch.creates:
                rows = [{k: v for k, v in row.items() if k != "_link"} for row in batch.creates]
                for row in rows:
                    row.setdefault("created_at", now)
                    row.setdefault("updated_at", now)
                    row.setdefault("custom", {})
                result = s.connection().execute(
                    sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
                )
                created = [r[0] for r in result]
                for cs_id, row in zip(created, batch.creates, strict=True):
                    batch.new_links.append({**row["_link"], "cs_id": cs_id})
            if batch.updates:
                names = [k for k in batch.updates[0] if k != "id"]
                statement = (
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("_id"))
                    .values({name: sa.bindparam(f"_v_{name}") for name in names})
                )
                s.connection().execute(
                    statement,
                    [{"_id": u["id"], **{f"_v_{n}": u[n] for n in names}} for u in batch.updates],
                )
            self._write_links(s, scope, batch.new_links, batch.link_updates, now)
            self._write_quarantine(s, scope, "pull", batch.quarantine, batch.loaded_keys, run_id, now)
            for conflict in batch.conflicts:
                s.add(
                    Conflict(
                        integration=scope.integration, cs_object=scope.cs_object, run_id=run_id, **conflict
                    )
                )
            if batch.cursor:
                self._write_cursor(s, scope, "pull", batch.cursor)
        return created

    def apply_push(self, scope: Scope, batch: PushBatch, run_id: str) -> None:
        """Commit the links, quarantine and cursor of one pushed chunk."""
        now = utcnow()
        with self.session() as s:
            self._write_links(s, scope, batch.new_links, batch.link_updates, now)
            self._write_quarantine(s, scope, "push", batch.quarantine, batch.loaded_keys, run_id, now)
            if batch.cursor:
                self._write_cursor(s, scope, "push", batch.cursor)

    def set_parents(self, scope: Scope, column: str, resolved: dict[int, int]) -> None:
        """Children whose parent is now linked: set their parent column, record it as synced."""
        if not resolved:
            return
        table = CS_MODELS[scope.cs_object].__table__
        links = self.links_by_cs(scope, list(resolved))
        with self.session() as s:
            s.connection().execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values({column: sa.bindparam("_p")}),
                [{"_id": child, "_p": parent} for child, parent in resolved.items()],
            )
            s.connection().execute(
                sa.update(RecordLink)
                .where(
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.cs_id == sa.bindparam("_id"),
                )
                .values(parent_external_id=None, synced_values=sa.bindparam("_values")),
                [
                    {"_id": child, "_values": {**links[child].synced_values, PARENT_SYNCED: parent}}
                    for child, parent in resolved.items()
                    if child in links
                ],
            )

    def apply_deletes(
        self, scope: Scope, external_ids: Sequence[str], policy: str, cursor: tuple[datetime, str] | None
    ) -> int:
        """Records the CRM archived or deleted: unlink them, or flag their links. CS data stays."""
        affected = 0
        with self.session() as s:
            if external_ids and policy != "ignore":
                where = (*in_scope(scope), col(RecordLink.external_id).in_(list(external_ids)))
                if policy == "unlink":
                    affected = s.exec(sa.delete(RecordLink).where(*where)).rowcount
                else:
                    affected = s.exec(
                        sa.update(RecordLink).where(*where).values(external_deleted_at=utcnow())
                    ).rowcount
            if cursor:
                self._write_cursor(s, scope, "deleted", cursor)
        return affected

    def _write_links(
        self,
        s: Session,
        scope: Scope,
        new: list[dict[str, Any]],
        updates: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        owner = {
            "integration": scope.integration,
            "cs_object": scope.cs_object,
            "external_object": scope.external_object,
        }
        if new:
            rows = [{"parent_external_id": None, **owner, **link, "synced_at": now} for link in new]
            _upsert(
                s,
                RecordLink,
                rows,
                ["integration", "cs_object", "cs_id"],
                ["external_object", "external_id", "synced_values", "synced_at", "parent_external_id"],
            )
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

    def _write_quarantine(
        self,
        s: Session,
        scope: Scope,
        direction: str,
        rows: list[dict[str, Any]],
        loaded_keys: list[str],
        run_id: str,
        now: datetime,
    ) -> None:
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
                }
                for row in rows
            ],
            ["integration", "cs_object", "direction", "record_key"],
            ["raw", "reason", "rule", "run_id", "last_seen_at", "replayed_at"],
        )
        if loaded_keys:
            s.exec(
                sa.update(QuarantineRecord)
                .where(
                    QuarantineRecord.integration == scope.integration,
                    QuarantineRecord.cs_object == scope.cs_object,
                    QuarantineRecord.direction == direction,
                    col(QuarantineRecord.record_key).in_(loaded_keys),
                    col(QuarantineRecord.replayed_at).is_(None),
                )
                .values(replayed_at=now)
            )

    def _write_cursor(self, s: Session, scope: Scope, direction: str, position: tuple[datetime, str]) -> None:
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
