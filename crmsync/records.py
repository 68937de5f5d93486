"""The store's sync side, reads: CS records in chunks, links, cursors, quarantine, runs.

What a chunk writes is in ``crmsync.commits``; both are mixed into ``Store``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from crmsync.models import CS_MODELS, QuarantineRecord, RecordLink, SyncCursor, SyncRun, utcnow

if TYPE_CHECKING:
    import pandas as pd


PARENT_SYNCED = "_parent"  # a link's synced values keep the CS parent id last synced under this key


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


def in_scope(scope: Scope) -> tuple[sa.ColumnElement[bool], ...]:
    """The WHERE conditions that select one scope's links."""
    return (
        RecordLink.integration == scope.integration,
        RecordLink.cs_object == scope.cs_object,
        RecordLink.external_object == scope.external_object,
    )


class RecordStore:
    """Mixed into ``Store``: reads and writes of the sync itself. Needs ``self.session()``."""

    # --- reads --------------------------------------------------------------------------------

    def cursor(self, scope: Scope, direction: str) -> tuple[datetime | None, str]:
        """Where the last run of this direction stopped: (timestamp, id), or (None, "")."""
        with self.session() as s:
            row = s.get(SyncCursor, (scope.integration, scope.cs_object, scope.external_object, direction))
            return (row.position_at, row.position_id) if row else (None, "")

    def links_by_external(self, scope: Scope, external_ids: Sequence[str]) -> dict[str, RecordLink]:
        """The scope's links of these CRM records, by CRM id."""
        with self.session() as s:
            rows = s.exec(
                select(RecordLink).where(*in_scope(scope), col(RecordLink.external_id).in_(external_ids))
            )
            return {row.external_id: row for row in rows}

    def links_by_cs(self, scope: Scope, cs_ids: Sequence[int]) -> dict[int, RecordLink]:
        """The scope's links of these CS records, by CS id."""
        ids = [int(i) for i in cs_ids]
        with self.session() as s:
            rows = s.exec(select(RecordLink).where(*in_scope(scope), col(RecordLink.cs_id).in_(ids)))
            return {row.cs_id: row for row in rows}

    def pending_parents(self, scope: Scope) -> dict[int, str]:
        """Linked children whose parent was not linked yet when they were pulled: cs_id -> parent id."""
        with self.session() as s:
            rows = s.exec(
                select(RecordLink.cs_id, RecordLink.parent_external_id).where(
                    *in_scope(scope), col(RecordLink.parent_external_id).is_not(None)
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
        linked = sa.select(RecordLink.cs_id).where(*in_scope(scope))
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
        linked = sa.select(RecordLink.cs_id).where(*in_scope(scope))
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
