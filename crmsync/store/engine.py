"""The database engine: creation, the Alembic schema upgrade, and one transaction per session.

SQLite (the default) and PostgreSQL (``CRMSYNC_DATABASE_URL``) are both supported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from crmsync import config

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"  # crmsync/migrations
HEAD_REVISION = "0007"


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine for ``url`` (default: ``CRMSYNC_DATABASE_URL`` or the local SQLite file)."""
    url = url or config.database_url()
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":  # the home folder may not exist yet
            Path(database).parent.mkdir(parents=True, exist_ok=True)
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


@contextmanager
def session(engine: sa.Engine) -> Iterator[Session]:
    """A session whose work commits together at the end, or not at all."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        yield s


def describe(url: sa.URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)
