"""ClientSuccess records as the sync reads them: in chunks, by id, by match key, by change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from crmsync.models import CS_MODELS, RecordLink, non_ascii
from crmsync.store.bulk import member_of
from crmsync.store.state import in_scope
from crmsync.store.types import Scope

if TYPE_CHECKING:
    import pandas as pd


class CSRecords:
    """Reads of the ClientSuccess objects (clients, contacts, subscriptions) for a sync."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

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
        """Unlinked CS records whose ``column`` equals one of ``values`` ignoring case: casefolded key -> id.

        Case is folded in Python (``str.casefold``), so SQLite and PostgreSQL match alike: SQL
        narrows the candidates to ASCII values equal ignoring ASCII case, plus every non-ASCII
        value (two queries, each served by an index for the default match fields:
        ``models.MATCH_KEY_INDEXES``), so the cost does not grow with the store.
        """
        table = CS_MODELS[scope.cs_object].__table__
        wanted = {str(v).casefold() for v in values}
        stored = table.c[column]
        ascii_keys = sorted(k for k in wanted if k.isascii())
        dialect = self.engine.dialect.name
        conditions = [non_ascii(stored, dialect)]
        if ascii_keys:
            conditions.insert(0, member_of(sa.func.lower(stored), ascii_keys, dialect))
        candidates: list[tuple[int, str]] = []
        with self.engine.connect() as conn:
            for condition in conditions:
                query = sa.select(table.c.id, stored).where(condition, _unlinked(table, scope))
                candidates.extend(conn.execute(query).all())
        found: dict[str, int] = {}
        for cs_id, value in sorted(candidates):
            key = value.casefold()
            if key in wanted:
                found.setdefault(key, cs_id)  # the oldest record wins a shared key
        return found

    def unlinked_ids(self, scope: Scope, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` that exist as CS records and are not linked in this scope."""
        table = CS_MODELS[scope.cs_object].__table__
        with self.engine.connect() as conn:
            wanted = member_of(table.c.id, list(ids), self.engine.dialect.name)
            rows = conn.execute(sa.select(table.c.id).where(wanted, _unlinked(table, scope)))
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


def _unlinked(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
    """The CS row has no link in this scope: a lookup per candidate on the link's unique index,
    not ``NOT IN`` every link of the scope (which reads them all, per query)."""
    link = RecordLink.__table__
    return ~sa.exists().where(*in_scope(scope), link.c.cs_id == table.c.id)
