"""The store's sync side: CS records in chunks, links, cursors, quarantine, conflicts and runs.

Each ``apply_*`` method commits one chunk's rows, links, quarantine, conflicts and cursor in a
single transaction, so a crash anywhere leaves either all of a chunk or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from crmsync.models import CS_MODELS, Conflict, QuarantineRecord, RecordLink, SyncCursor, SyncRun, utcnow

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Scope:
    """One integration × CS object × external object: what links and cursors belong to."""

    integration: str
    cs_object: str
    external_object: str


@dataclass
class PullBatch:
    """Everything one pulled chunk writes, in one transaction."""

    creates: list[dict[str, Any]] = field(default_factory=list)  # CS values; "_link" holds the link fields
    updates: list[dict[str, Any]] = field(default_factory=list)  # {"id": cs_id, field: value, ...}
    new_links: list[dict[str, Any]] = field(default_factory=list)
    link_updates: list[dict[str, Any]] = field(default_factory=list)  # {"cs_id", "synced_values", ...}
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # record_key, raw, reason, rule
    loaded_keys: list[str] = field(default_factory=list)  # quarantined earlier, loaded now: replayed
    cursor: tuple[datetime, str] | None = None


@dataclass
class PushBatch:
    """Everything one pushed chunk writes back, in one transaction."""

    new_links: list[dict[str, Any]] = field(default_factory=list)
    link_updates: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    loaded_keys: list[str] = field(default_factory=list)
    cursor: tuple[datetime, str] | None = None


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


class RecordStore:
    """Mixed into ``Store``: reads and writes of the sync itself. Needs ``self.session()``."""

    # --- reads --------------------------------------------------------------------------------

    def cursor(self, scope: Scope, direction: str) -> tuple[datetime | None, str]:
        """Where the last run of this direction stopped: (timestamp, id), or (None, "")."""
        with self.session() as s:
            row = s.get(SyncCursor, (scope.integration, scope.cs_object, scope.external_object, direction))
            return (row.position_at, row.position_id) if row else (None, "")

    def links_by_external(self, scope: Scope, external_ids: Sequence[str]) -> dict[str, RecordLink]:
        with self.session() as s:
            rows = s.exec(
                select(RecordLink).where(
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.external_object == scope.external_object,
                    col(RecordLink.external_id).in_(list(external_ids)),
                )
            )
            return {row.external_id: row for row in rows}

    def links_by_cs(self, scope: Scope, cs_ids: Sequence[int]) -> dict[int, RecordLink]:
        with self.session() as s:
            rows = s.exec(
                select(RecordLink).where(
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.external_object == scope.external_object,
                    col(RecordLink.cs_id).in_([int(i) for i in cs_ids]),
                )
            )
            return {row.cs_id: row for row in rows}

    def pending_parents(self, scope: Scope) -> dict[int, str]:
        """Linked children whose parent was not linked yet when they were pulled: cs_id -> parent id."""
        with self.session() as s:
            rows = s.exec(
                select(RecordLink.cs_id, RecordLink.parent_external_id).where(
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.external_object == scope.external_object,
                    col(RecordLink.parent_external_id).is_not(None),
                )
            )
            return dict(rows.all())

    def cs_frame(self, cs_object: str, ids: Sequence[int], columns: Sequence[str]) -> pd.DataFrame:
        """Current values of these CS records, indexed by id, with updated_at."""
        import pandas as pd

        table = CS_MODELS[cs_object].__table__
        wanted = [table.c.id, *(table.c[name] for name in dict.fromkeys(columns)), table.c.updated_at]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*wanted).where(table.c.id.in_([int(i) for i in ids]))).all()
        frame = pd.DataFrame(rows, columns=[c.name for c in wanted])
        return frame.set_index("id")

    def match_keys(self, scope: Scope, column: str, values: Sequence[str]) -> dict[str, int]:
        """Unlinked CS records whose ``column`` equals one of ``values``, case-insensitively."""
        table = CS_MODELS[scope.cs_object].__table__
        linked = sa.select(RecordLink.cs_id).where(
            RecordLink.integration == scope.integration,
            RecordLink.cs_object == scope.cs_object,
            RecordLink.external_object == scope.external_object,
        )
        wanted = sorted({v.lower() for v in values})
        statement = (
            sa.select(sa.func.lower(table.c[column]), table.c.id)
            .where(sa.func.lower(table.c[column]).in_(wanted), table.c.id.not_in(linked))
            .order_by(table.c.id)
        )
        with self.engine.connect() as conn:
            found: dict[str, int] = {}
            for key, cs_id in conn.execute(statement):
                found.setdefault(key, cs_id)  # the oldest record wins a shared key
            return found

    def existing_ids(self, cs_object: str, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` that still exist as CS records."""
        table = CS_MODELS[cs_object].__table__
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.id).where(table.c.id.in_([int(i) for i in ids])))
            return {row[0] for row in rows}

    def unlinked_ids(self, scope: Scope, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` that exist as CS records and are not linked in this scope."""
        table = CS_MODELS[scope.cs_object].__table__
        linked = sa.select(RecordLink.cs_id).where(
            RecordLink.integration == scope.integration,
            RecordLink.cs_object == scope.cs_object,
            RecordLink.external_object == scope.external_object,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.id).where(table.c.id.in_(list(ids)), table.c.id.not_in(linked))
            )
            return {row[0] for row in rows}

    def changed_records(
        self, cs_object: str, since: tuple[datetime | None, str], columns: Sequence[str], limit: int
    ) -> pd.DataFrame:
        """Up to ``limit`` CS records changed after ``since`` (updated_at, id), oldest first."""
        import pandas as pd

        table = CS_MODELS[cs_object].__table__
        wanted = [table.c.id, *(table.c[name] for name in dict.fromkeys(columns)), table.c.updated_at]
        statement = sa.select(*wanted).order_by(table.c.updated_at, table.c.id).limit(limit)
        at, last_id = since
        if at is not None:
            after = sa.tuple_(table.c.updated_at, table.c.id) > sa.tuple_(
                sa.literal(at, table.c.updated_at.type), int(last_id or 0)
            )
            statement = statement.where(after)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return pd.DataFrame(rows, columns=[c.name for c in wanted]).set_index("id", drop=False)

    def quarantined_keys(self, scope: Scope, direction: str) -> list[str]:
        """Keys of records in quarantine that were not replayed yet."""
        with self.session() as s:
            return list(
                s.exec(
                    select(QuarantineRecord.record_key).where(
                        QuarantineRecord.integration == scope.integration,
                        QuarantineRecord.cs_object == scope.cs_object,
                        QuarantineRecord.direction == direction,
                        col(QuarantineRecord.replayed_at).is_(None),
                    )
                )
            )

    # --- writes -------------------------------------------------------------------------------

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

    def set_parents(self, scope: Scope, resolved: dict[int, int]) -> None:
        """Children whose parent is now linked: set client_id and clear the pending parent."""
        if not resolved:
            return
        table = CS_MODELS[scope.cs_object].__table__
        with self.session() as s:
            s.connection().execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("_id"))
                .values(client_id=sa.bindparam("_p")),
                [{"_id": child, "_p": parent} for child, parent in resolved.items()],
            )
            s.connection().execute(
                sa.update(RecordLink)
                .where(
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.cs_id == sa.bindparam("_id"),
                )
                .values(parent_external_id=None),
                [{"_id": child} for child in resolved],
            )

    def apply_deletes(
        self, scope: Scope, external_ids: Sequence[str], policy: str, cursor: tuple[datetime, str] | None
    ) -> int:
        """Records the CRM archived or deleted: unlink them, or flag their links. CS data stays."""
        affected = 0
        with self.session() as s:
            if external_ids and policy != "ignore":
                where = (
                    RecordLink.integration == scope.integration,
                    RecordLink.cs_object == scope.cs_object,
                    RecordLink.external_object == scope.external_object,
                    col(RecordLink.external_id).in_(list(external_ids)),
                )
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

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, run_id: str, scope: Scope, mode: str, flow_run_id: str | None = None) -> None:
        with self.session() as s:
            s.add(
                SyncRun(
                    id=run_id,
                    integration=scope.integration,
                    cs_object=scope.cs_object,
                    mode=mode,
                    flow_run_id=flow_run_id,
                )
            )

    def finish_run(
        self, run_id: str, status: str, counts: dict[str, int], message: str | None = None
    ) -> None:
        with self.session() as s:
            run = s.get(SyncRun, run_id)
            run.status, run.counts, run.message, run.finished_at = status, dict(counts), message, utcnow()
            s.add(run)

    def quarantine_rows(self, integration: str, limit: int = 20) -> list[QuarantineRecord]:
        with self.session() as s:
            return list(
                s.exec(
                    select(QuarantineRecord)
                    .where(
                        QuarantineRecord.integration == integration,
                        col(QuarantineRecord.replayed_at).is_(None),
                    )
                    .order_by(QuarantineRecord.id)
                    .limit(limit)
                )
            )
