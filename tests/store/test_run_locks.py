"""One writer per integration × object, on SQLite and PostgreSQL; a killed holder never blocks for good."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlmodel import select

from crmsync.models import Integration, QuarantineRecord, RecordLink, SyncRun
from crmsync.store import Store
from crmsync.store.locks import RunLocked, run_lock
from crmsync.store.types import PullBatch, Scope

SCOPE = Scope("hubspot", "clients", "companies")

_HOLD_AND_DIE = """
import os, signal, sys
from crmsync.store import create_engine
from crmsync.store.locks import run_lock
lock = run_lock(create_engine(sys.argv[1]), "hubspot", "clients", "run-killed", timeout=0)
lock.__enter__()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """A fresh store's URL, one a second process can open too."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crmsync.db'}"
    else:
        from tests.fixtures.store import postgres_schema_url

        url = postgres_schema_url(request.getfixturevalue("postgres_database")).render_as_string(
            hide_password=False
        )
    store = Store(url)
    with store.session() as s:
        s.add(Integration(name="hubspot", kind="hubspot", header="HubSpot"))
    return url


def test_a_second_run_of_the_same_object_waits_then_names_the_holder(store_url):
    store = Store(store_url)
    with run_lock(store.engine, "hubspot", "clients", "run-first", timeout=0):
        started = time.monotonic()
        held = r"hubspot · clients is being synced by run run-first \(pid"
        with (
            pytest.raises(RunLocked, match=held),
            run_lock(store.engine, "hubspot", "clients", "run-second", timeout=0.6),
        ):
            pass
        assert time.monotonic() - started >= 0.5
        with run_lock(store.engine, "hubspot", "contacts", "run-other", timeout=0):
            pass  # another object of the same integration runs at the same time
    with run_lock(store.engine, "hubspot", "clients", "run-second", timeout=0):
        pass  # released at the end of the first


def test_a_lock_whose_process_was_killed_is_taken_over(store_url):
    died = subprocess.run([sys.executable, "-c", _HOLD_AND_DIE, store_url], check=False, timeout=60)
    assert died.returncode == -9
    store = Store(store_url)
    with run_lock(store.engine, "hubspot", "clients", "run-next", timeout=5):
        pass


def test_runs_left_running_are_marked_crashed(store_url):
    store = Store(store_url)
    store.state.start_run("run-killed", SCOPE, "sync")
    store.state.start_run("run-contacts", Scope("hubspot", "contacts", "contacts"), "sync")
    assert store.state.mark_crashed("hubspot", "clients") == 1
    with store.session() as s:
        runs = {r.id: r.status for r in s.exec(select(SyncRun))}
    assert runs == {"run-killed": "crashed", "run-contacts": "running"}


def test_a_quarantined_push_is_replayed_once_a_pull_links_the_record(store_url):
    store = Store(store_url)
    with store.session() as s:
        s.add(
            QuarantineRecord(
                integration="hubspot",
                cs_object="clients",
                direction="push",
                record_key="7",
                raw={},
                reason="lost answer",
                rule="crm_rejected",
            )
        )
    from crmsync.models import Client

    with store.session() as s:
        s.add(Client(id=7, name="Acme"))
    batch = PullBatch(new_links=[{"cs_id": 7, "external_id": "E7", "synced_values": {}}])
    store.state.apply_pull(SCOPE, batch, "run")
    with store.session() as s:
        [row] = s.exec(select(QuarantineRecord))
        assert s.exec(select(RecordLink)).one().cs_id == 7
    assert row.replayed_at is not None
    assert store.state.quarantined_keys(SCOPE, "push") == []
