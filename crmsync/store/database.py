"""``Store``: one engine, with the integration settings, sync state and ClientSuccess records on it.

The schema is created or upgraded by Alembic on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlmodel import Session

from crmsync.store import engine as db
from crmsync.store.errors import StoreError
from crmsync.store.integrations import IntegrationSettings
from crmsync.store.records import CSRecords
from crmsync.store.state import SyncState


class Store:
    """crmsync's database: ``settings`` (the configuration page), ``state`` (links, cursors,
    quarantine, conflicts, runs and chunk commits) and ``records`` (ClientSuccess reads)."""

    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        self.engine = engine or db.create_engine(url)
        try:
            db.migrate(self.engine)
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise StoreError(f"cannot open the database {db.describe(self.engine.url)}: {reason}") from None
        self.settings = IntegrationSettings(self.engine)
        self.state = SyncState(self.engine)
        self.records = CSRecords(self.engine)

    def __repr__(self) -> str:
        return f"Store({db.describe(self.engine.url)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits together at the end, or not at all."""
        with db.session(self.engine) as s:
            yield s
