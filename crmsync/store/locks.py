"""One writer per integration × object: a run lock for CLI runs, deployment runs and backfills alike.

Prefect's concurrency limits only see deployment runs, so the lock lives in the store:
- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a stable hash of the key, held on a
  dedicated connection for the whole run; the server drops it when the process dies.
- SQLite: a ``run_locks`` row, taken with INSERT … ON CONFLICT DO NOTHING. A row whose owner is
  gone (same host, pid not alive) or older than ``CRMSYNC_LOCK_STALE`` is taken over with a
  conditional UPDATE on the old owner's run id, so two runs never both take it over.
On both, the row names the holder, for the message of a run that waited in vain.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from crmsync.errors import CrmsyncError
from crmsync.models import RunLock, utcnow
from crmsync.processes import alive

POLL_SECONDS = 0.5
DEFAULT_TIMEOUT = 60.0  # CRMSYNC_LOCK_TIMEOUT: how long a second run waits for the first
DEFAULT_STALE = 7 * 3600.0  # CRMSYNC_LOCK_STALE: a SQLite lock this old is taken over (> flow timeout)


class RunLocked(CrmsyncError):
    """Another run holds this integration × object; one line naming it."""


@dataclass(frozen=True)
class Owner:
    """Who takes a lock: the run, its process and its host."""

    run_id: str
    pid: int
    host: str


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise CrmsyncError(f"{name} must be a number of seconds; got {raw!r}") from None


def lock_key(integration: str, cs_object: str) -> str:
    """The one key of an integration × object."""
    return f"{integration}:{cs_object}"


def advisory_id(key: str) -> int:
    """A stable signed 64-bit number for a key (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def run_lock(
    engine: sa.Engine, integration: str, cs_object: str, run_id: str, timeout: float | None = None
) -> Iterator[None]:
    """Hold the lock of an integration × object for the block; wait up to ``timeout`` seconds for it."""
    key = lock_key(integration, cs_object)
    wait = _seconds("CRMSYNC_LOCK_TIMEOUT", DEFAULT_TIMEOUT) if timeout is None else timeout
    deadline = time.monotonic() + wait
    me = Owner(run_id, os.getpid(), socket.gethostname())
    conn = engine.connect() if engine.dialect.name == "postgresql" else None
    held = False
    try:
        while not (held := _take(engine, conn, key, me)):
            if time.monotonic() >= deadline:
                raise RunLocked(_held_by(engine, key, integration, cs_object, wait))
            time.sleep(POLL_SECONDS)
        yield
    finally:
        if held:
            _release(engine, conn, key, me)
        if conn is not None:
            conn.close()


def _take(engine: sa.Engine, conn: sa.Connection | None, key: str, me: Owner) -> bool:
    if conn is not None:  # PostgreSQL: the advisory lock decides; the row only names the holder
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_id(key)}).scalar()
        conn.commit()
        if got:
            with engine.begin() as c:
                c.execute(sa.delete(RunLock).where(RunLock.lock_key == key))
                c.execute(sa.insert(RunLock).values(_row(key, me)))
        return bool(got)
    from sqlalchemy.dialects.sqlite import insert

    with engine.begin() as c:
        taken = c.execute(insert(RunLock).values(_row(key, me)).on_conflict_do_nothing()).rowcount
        if taken:
            return True
        holder = c.execute(sa.select(RunLock).where(RunLock.lock_key == key)).first()
        if holder is None or not _abandoned(holder):
            return False
        moved = c.execute(
            sa.update(RunLock)
            .where(RunLock.lock_key == key, RunLock.run_id == holder.run_id)
            .values(_row(key, me))
        ).rowcount
        return moved == 1


def _row(key: str, me: Owner) -> dict:
    return {"lock_key": key, "run_id": me.run_id, "pid": me.pid, "host": me.host, "acquired_at": utcnow()}


def _abandoned(holder: sa.Row) -> bool:
    """The holder's process is gone (same host) or the lock is older than any run may take."""
    stale = utcnow() - timedelta(seconds=_seconds("CRMSYNC_LOCK_STALE", DEFAULT_STALE))
    if holder.acquired_at < stale:
        return True
    return holder.host == socket.gethostname() and not alive(holder.pid)


def _release(engine: sa.Engine, conn: sa.Connection | None, key: str, me: Owner) -> None:
    with engine.begin() as c:
        c.execute(sa.delete(RunLock).where(RunLock.lock_key == key, RunLock.run_id == me.run_id))
    if conn is not None:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_id(key)})
        conn.commit()


def _held_by(engine: sa.Engine, key: str, integration: str, cs_object: str, waited: float) -> str:
    with engine.connect() as c:
        holder = c.execute(sa.select(RunLock).where(RunLock.lock_key == key)).first()
    since = f"{holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if holder else ""
    who = (
        f"run {holder.run_id} (pid {holder.pid} on {holder.host}, since {since})" if holder else "another run"
    )
    return (
        f"{integration} · {cs_object} is being synced by {who}; gave up after waiting {waited:g}s "
        "(CRMSYNC_LOCK_TIMEOUT)"
    )
