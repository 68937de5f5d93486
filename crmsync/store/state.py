"""Sync state: links, cursors, quarantine, conflicts and runs, and the one commit of each chunk.

Each ``apply_*`` method commits one chunk's rows, links, quarantine, conflicts and cursor in a
single transaction, so a crash anywhere leaves either all of a chunk or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from crmsync.models import (
    CS_MODELS,
    BackfillWindow,
    Conflict,
    QuarantineRecord,
    RecordLink,
    SyncCursor,
    SyncRun,
    utcnow,
)
from crmsync.store.bulk import insert_new, member_of
from crmsync.store.engine import session
from crmsync.store.events import prune_events, pull_events, push_events, write_events
from crmsync.store.types import PARENT_SYNCED, PullBatch, PushBatch, Scope
from crmsync.store.writes import replay_linked, write_cursor, write_links, write_quarantine


def in_scope(scope: Scope) -> tuple[sa.ColumnElement[bool], ...]:
    """The WHERE conditions that select one scope's links."""
    return (
        RecordLink.integration == scope.integration,
        RecordLink.cs_object == scope.cs_object,
        RecordLink.external_object == scope.external_object,
    )


class SyncState:
    """What the sync knows between runs, per scope, and the commits that move it forward."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # --- links and cursors --------------------------------------------------------------------

    def cursor(self, scope: Scope, direction: str) -> tuple[datetime | None, str]:
        """Where the last run of this direction stopped: (timestamp, id), or (None, "")."""
        with session(self.engine) as s:
            row = s.get(SyncCursor, (scope.integration, scope.cs_object, scope.external_object, direction))
            return (row.position_at, row.position_id) if row else (None, "")

    def due_keys(self, scope: Scope, direction: str) -> list[str]:
        """Keys of quarantined records whose retry is due now (see crmsync.store.quarantine)."""
        from crmsync.store import quarantine

        return quarantine.due_keys(self.engine, scope.integration, scope.cs_object, direction)

    def held_back(self, scope: Scope, direction: str) -> dict[str, datetime]:
        """Quarantined records still backing off: key -> when last seen."""
        from crmsync.store import quarantine

        return quarantine.held_back(self.engine, scope.integration, scope.cs_object, direction)

    def cursor_written_at(self, scope: Scope, direction: str) -> datetime | None:
        """When this direction's cursor was last written (for deletions: the last sweep)."""
        with session(self.engine) as s:
            row = s.get(SyncCursor, (scope.integration, scope.cs_object, scope.external_object, direction))
            return row.updated_at if row else None

    def links_by_external(self, scope: Scope, external_ids: Sequence[str]) -> dict[str, RecordLink]:
        """The scope's links of these CRM records, by CRM id (read-only rows with the link's columns)."""
        where = member_of(col(RecordLink.external_id), [str(i) for i in external_ids], self.dialect)
        return {row.external_id: row for row in self._links(scope, where)}

    def links_by_cs(self, scope: Scope, cs_ids: Sequence[int]) -> dict[int, RecordLink]:
        """The scope's links of these CS records, by CS id (read-only rows with the link's columns)."""
        where = member_of(col(RecordLink.cs_id), [int(i) for i in cs_ids], self.dialect)
        return {row.cs_id: row for row in self._links(scope, where)}

    def live_cs_ids(self, scope: Scope, external_ids: Sequence[str]) -> dict[str, int]:
        """CRM id -> CS id of these CRM records' links whose CS record still exists (one query,
        two columns: what a chunk's children need of their parents)."""
        table = CS_MODELS[scope.cs_object].__table__
        link = RecordLink.__table__
        where = member_of(link.c.external_id, [str(i) for i in external_ids], self.dialect)
        query = (
            sa.select(link.c.external_id, link.c.cs_id)
            .join(table, table.c.id == link.c.cs_id)
            .where(*in_scope(scope), where)
        )
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def _links(self, scope: Scope, where: sa.ColumnElement[bool]) -> list[sa.Row]:
        # Plain rows, not ORM objects: a chunk reads thousands of links and only their values.
        with self.engine.connect() as conn:
            return conn.execute(sa.select(RecordLink.__table__).where(*in_scope(scope), where)).all()

    def pending_parents(self, scope: Scope) -> dict[int, str]:
        """Linked children whose parent was not linked yet when they were pulled: cs_id -> parent id."""
        with session(self.engine) as s:
            rows = s.exec(
                select(RecordLink.cs_id, RecordLink.parent_external_id).where(
                    *in_scope(scope), col(RecordLink.parent_external_id).is_not(None)
                )
            )
            return dict(rows.all())

    # --- quarantine and runs -----------------------------------------------------------------

    def quarantined_keys(self, scope: Scope, direction: str) -> list[str]:
        """Keys of records in quarantine that were not replayed yet."""
        with session(self.engine) as s:
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

    def start_run(self, run_id: str, scope: Scope, mode: str, flow_run_id: str | None = None) -> None:
        """Record that a run of this scope started."""
        with session(self.engine) as s:
            s.add(
                SyncRun(
                    id=run_id,
                    integration=scope.integration,
                    cs_object=scope.cs_object,
                    mode=mode,
                    flow_run_id=flow_run_id,
                )
            )

    def mark_crashed(self, integration: str, cs_object: str) -> int:
        """Runs of this integration × object left ``running`` by a killed process: mark them crashed.

        Called with the object's run lock held, so no run of it is really running.
        """
        with session(self.engine) as s:
            return s.exec(
                sa.update(SyncRun)
                .where(
                    SyncRun.integration == integration,
                    SyncRun.cs_object == cs_object,
                    SyncRun.status == "running",
                    # Runs that take the lock; a preview that does not could still be running.
                    col(SyncRun.mode).in_(("sync", "backfill")),
                )
                .values(
                    status="crashed",
                    finished_at=utcnow(),
                    message="the process running it ended without finishing (found by the next run)",
                )
            ).rowcount

    def finish_run(
        self, run_id: str, status: str, counts: dict[str, int], message: str | None = None
    ) -> None:
        """Record how a run ended, with its counts."""
        with session(self.engine) as s:
            run = s.get(SyncRun, run_id)
            run.status, run.counts, run.message, run.finished_at = status, dict(counts), message, utcnow()
            s.add(run)

    def quarantine_rows(self, integration: str, limit: int = 20) -> list[QuarantineRecord]:
        """The integration's records in quarantine that were not replayed yet, oldest first."""
        with session(self.engine) as s:
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

    def latest_run(self, integration: str, cs_object: str) -> SyncRun | None:
        """The object's most recent run, finished or not."""
        with session(self.engine) as s:
            return s.exec(
                select(SyncRun)
                .where(SyncRun.integration == integration, SyncRun.cs_object == cs_object)
                .order_by(col(SyncRun.started_at).desc())
            ).first()

    def open_quarantine(
        self, integration: str, cs_object: str, limit: int
    ) -> tuple[int, list[QuarantineRecord]]:
        """How many of the object's records are in quarantine (not replayed), and the newest of them."""
        where = (
            QuarantineRecord.integration == integration,
            QuarantineRecord.cs_object == cs_object,
            col(QuarantineRecord.replayed_at).is_(None),
        )
        with session(self.engine) as s:
            total = s.exec(select(sa.func.count()).select_from(QuarantineRecord).where(*where)).one()
            newest = select(QuarantineRecord).where(*where).order_by(col(QuarantineRecord.id).desc())
            return total, list(s.exec(newest.limit(limit)))

    def recent_conflicts(self, integration: str, cs_object: str, limit: int) -> list[Conflict]:
        """The object's newest recorded conflicts."""
        with session(self.engine) as s:
            return list(
                s.exec(
                    select(Conflict)
                    .where(Conflict.integration == integration, Conflict.cs_object == cs_object)
                    .order_by(col(Conflict.id).desc())
                    .limit(limit)
                )
            )

    # --- backfill windows ---------------------------------------------------------------------

    def completed_windows(self, integration: str, cs_object: str) -> set[tuple[datetime, datetime]]:
        """The (start, end) of the backfill windows of this object that completed."""
        with session(self.engine) as s:
            rows = s.exec(
                select(BackfillWindow.start, BackfillWindow.end).where(
                    BackfillWindow.integration == integration, BackfillWindow.cs_object == cs_object
                )
            )
            return {(start, end) for start, end in rows}

    def complete_window(self, integration: str, cs_object: str, start: datetime, end: datetime) -> None:
        """Record that a backfill window completed (right after its last chunk's commit)."""
        with session(self.engine) as s:
            s.merge(BackfillWindow(integration=integration, cs_object=cs_object, start=start, end=end))

    def prune_history(self, days: int) -> int:
        """Forget per-record history older than ``days`` (one DELETE); returns the rows removed."""
        with session(self.engine) as s:
            return prune_events(s, utcnow(), days)

    # --- chunk commits -----------------------------------------------------------------------

    def apply_pull(self, scope: Scope, batch: PullBatch, run_id: str) -> list[int]:
        """Commit one pulled chunk; returns the ids of the CS records it created."""
        model = CS_MODELS[scope.cs_object]
        table = model.__table__
        now = utcnow()
        with session(self.engine) as s:
            created: list[int] = []
            if batch.creates:
                rows = [{k: v for k, v in row.items() if k != "_link"} for row in batch.creates]
                same = {
                    k: v
                    for k, v in (("created_at", now), ("updated_at", now), ("custom", {}))
                    if k not in rows[0]
                }
                created = insert_new(s.connection(), table, rows, same)
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
            write_links(s, scope, batch.new_links, batch.link_updates, now)
            replayed = write_quarantine(s, scope, "pull", batch.quarantine, batch.loaded_keys, run_id, now)
            write_events(s, scope, "pull", pull_events(batch, created, replayed), run_id, now)
            replay_linked(s, scope, batch.new_links, now)
            for conflict in batch.conflicts:
                s.add(
                    Conflict(
                        integration=scope.integration, cs_object=scope.cs_object, run_id=run_id, **conflict
                    )
                )
            _remove_links(s, scope, batch.deleted, batch.delete_policy)
            if batch.cursor:
                write_cursor(s, scope, "pull", batch.cursor)
        return created

    def apply_push(self, scope: Scope, batch: PushBatch, run_id: str) -> None:
        """Commit the links, quarantine and cursor of one pushed chunk."""
        now = utcnow()
        with session(self.engine) as s:
            write_links(s, scope, batch.new_links, batch.link_updates, now)
            replayed = write_quarantine(s, scope, "push", batch.quarantine, batch.loaded_keys, run_id, now)
            write_events(s, scope, "push", push_events(batch, replayed), run_id, now)
            replay_linked(s, scope, batch.new_links, now)
            if batch.cursor:
                write_cursor(s, scope, "push", batch.cursor)

    def set_parents(self, scope: Scope, column: str, resolved: dict[int, int]) -> None:
        """Children whose parent is now linked: set their parent column, record it as synced."""
        if not resolved:
            return
        table = CS_MODELS[scope.cs_object].__table__
        links = self.links_by_cs(scope, list(resolved))
        with session(self.engine) as s:
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
        self,
        scope: Scope,
        external_ids: Sequence[str],
        policy: str,
        cursor: tuple[datetime | None, str] | None,
    ) -> int:
        """Records the CRM archived or deleted: unlink them, or flag their links. CS data stays."""
        with session(self.engine) as s:
            affected = _remove_links(s, scope, external_ids, policy)
            if cursor:
                write_cursor(s, scope, "deleted", cursor)
        return affected


def _remove_links(s: Session, scope: Scope, external_ids: Sequence[str], policy: str) -> int:
    """Unlink (or flag the links of) CRM records the CRM deleted; returns how many links it touched."""
    if not external_ids or policy == "ignore":
        return 0
    where = (*in_scope(scope), col(RecordLink.external_id).in_(list(external_ids)))
    if policy == "unlink":
        return s.exec(sa.delete(RecordLink).where(*where)).rowcount
    return s.exec(sa.update(RecordLink).where(*where).values(external_deleted_at=utcnow())).rowcount
