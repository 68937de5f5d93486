"""The store boundary: every read and write of crmsync's database goes through ``Store``.

The schema is created or upgraded by Alembic on first use. SQLite (the default) and
PostgreSQL (``CRMSYNC_DATABASE_URL``) are both supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from crmsync import config
from crmsync.commits import ChunkCommits
from crmsync.errors import CrmsyncError
from crmsync.models import (
    Conflict,
    Integration,
    ObjectSetting,
    QuarantineRecord,
    RecordLink,
    SyncCursor,
    SyncRun,
    utcnow,
)
from crmsync.records import RecordStore
from crmsync.settings import CS_OBJECTS, KINDS, SCHEDULES, ObjectDirection, next_pull_at

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD_REVISION = "0002"


class StoreError(CrmsyncError):
    """A one-line problem with the store or a name given to it."""


class UnknownName(StoreError):
    """A name (integration, object, direction, schedule) that is not one of the valid ones."""


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine for ``url`` (default: ``CRMSYNC_DATABASE_URL`` or the local SQLite file)."""
    url = url or config.database_url()
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def migrate(engine: sa.Engine) -> None:
    """Create or upgrade the schema to the latest revision (a no-op when it is current)."""
    with engine.connect() as conn:
        if sa.inspect(conn).has_table("alembic_version"):
            current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            if current == HEAD_REVISION:
                return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _describe(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


class Store(RecordStore, ChunkCommits):
    """crmsync's database: settings, sync state and the ClientSuccess objects."""

    def __init__(self, url: str | None = None, engine: sa.Engine | None = None):
        self.engine = engine or create_engine(url)
        try:
            migrate(self.engine)
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise StoreError(f"cannot open the database {_describe(self.engine.url)}: {reason}") from None

    def __repr__(self) -> str:
        return f"Store({_describe(self.engine.url)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits together at the end, or not at all."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # --- integrations -------------------------------------------------------------------------

    def integrations(self) -> list[Integration]:
        with self.session() as s:
            return list(s.exec(select(Integration).order_by(Integration.name)))

    def integration(self, name: str) -> Integration:
        """The integration called ``name``, or an error listing the valid names."""
        with self.session() as s:
            found = s.get(Integration, name)
            if found is None:
                names = list(s.exec(select(Integration.name).order_by(Integration.name)))
                valid = ", ".join(names) if names else "none yet; run: crmsync connect hubspot|salesforce"
                raise UnknownName(f"unknown integration '{name}' (connected: {valid})")
            return found

    def object_settings(self, name: str) -> list[ObjectSetting]:
        """The integration's objects in dependency order (clients, contacts, subscriptions)."""
        self.integration(name)
        with self.session() as s:
            rows = list(s.exec(select(ObjectSetting).where(ObjectSetting.integration == name)))
        return sorted(rows, key=lambda row: CS_OBJECTS.index(row.cs_object))

    def object_setting(self, name: str, cs_object: str) -> ObjectSetting:
        for row in self.object_settings(name):
            if row.cs_object == cs_object:
                return row
        raise UnknownName(f"unknown object '{cs_object}' (valid: {', '.join(CS_OBJECTS)})")

    def connect(self, kind: str, name: str | None, pointing: dict[str, str]) -> Integration:
        """Record a new integration of ``kind`` with each CS object pointed as ``pointing`` says."""
        if kind not in KINDS:
            raise UnknownName(f"unknown integration kind '{kind}' (valid: {', '.join(KINDS)})")
        name = name or kind
        with self.session() as s:
            if s.get(Integration, name) is not None:
                raise StoreError(f"integration '{name}' is already connected (see: crmsync show {name})")
            integration = Integration(name=name, kind=kind, header=KINDS[kind].header)
            s.add(integration)
            s.flush()
            for cs_object in CS_OBJECTS:
                if cs_object in pointing:
                    s.add(
                        ObjectSetting(
                            integration=name, cs_object=cs_object, external_object=pointing[cs_object]
                        )
                    )
        return integration

    def _update_integration(self, name: str, **values: object) -> Integration:
        self.integration(name)
        with self.session() as s:
            row = s.get(Integration, name)
            for key, value in values.items():
                setattr(row, key, value)
            s.add(row)
        return row

    def set_enabled(self, name: str, enabled: bool) -> Integration:
        """The global toggle: on enables the integration's sync, off pauses all of it."""
        row = self.integration(name)
        return self._update_integration(
            name, enabled=enabled, next_pull_at=next_pull_at(row.schedule, enabled, utcnow())
        )

    def set_schedule(self, name: str, schedule: str) -> Integration:
        """The pull schedule: manual, or every 5, 10, 15, 30 or 60 minutes."""
        if schedule not in SCHEDULES:
            raise UnknownName(f"unknown pull schedule '{schedule}' (valid: {', '.join(SCHEDULES)})")
        row = self.integration(name)
        return self._update_integration(
            name, schedule=schedule, next_pull_at=next_pull_at(schedule, row.enabled, utcnow())
        )

    def record_pull(self, name: str, finished_at: datetime) -> Integration:
        """A pull completed: latest pull is now, next pull follows the schedule."""
        row = self.integration(name)
        return self._update_integration(
            name,
            latest_pull_at=finished_at,
            next_pull_at=next_pull_at(row.schedule, row.enabled, finished_at),
        )

    def set_direction(self, name: str, cs_object: str, direction: str) -> ObjectSetting:
        """An object's sync direction: push-pull, push, pull or disabled."""
        valid = [d.value for d in ObjectDirection]
        if direction not in valid:
            raise UnknownName(f"unknown direction '{direction}' (valid: {', '.join(valid)})")
        setting = self.object_setting(name, cs_object)
        with self.session() as s:
            setting.direction = direction
            s.add(setting)
        return setting

    def point_object(self, name: str, cs_object: str, external_object: str) -> ObjectSetting:
        """Point a CS object at another external object; its cursors start over for the new one."""
        kind = KINDS[self.integration(name).kind]
        if external_object not in kind.external_objects:
            raise UnknownName(
                f"unknown {kind.header} object '{external_object}' "
                f"(valid: {', '.join(kind.external_objects)})"
            )
        setting = self.object_setting(name, cs_object)
        with self.session() as s:
            setting.external_object = external_object
            s.add(setting)
        return setting

    def delete_integration(self, name: str) -> None:
        """Remove an integration and everything it owns. It cannot be undone."""
        self.integration(name)
        with self.session() as s:
            for table in (SyncRun, Conflict, QuarantineRecord, SyncCursor, RecordLink, ObjectSetting):
                s.exec(delete(table).where(col(table.integration) == name))
            s.exec(delete(Integration).where(col(Integration.name) == name))
