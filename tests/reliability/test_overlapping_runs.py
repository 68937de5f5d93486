"""Overlapping runs of one integration × object, as separate processes: one writer at a time.

A run that finds the object locked waits up to CRMSYNC_LOCK_TIMEOUT, then exits non-zero with
one line naming the run that holds the lock; two runs started together both complete one
after the other (their run-ledger intervals never overlap per object) and nothing is duplicated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

from sqlmodel import select

from crmsync import page
from crmsync.models import Client, SyncRun
from crmsync.store import Store
from crmsync.store.locks import run_lock
from tests.reliability.helpers import Expected, assert_end_state, crm_state


def _sync(prefect_api: str, *argv: str, timeout: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "CRMSYNC_LOCK_TIMEOUT": timeout}
    env.pop("CRMSYNC_CRASH_AT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def test_overlapping_runs_wait_or_name_the_holder_and_duplicate_nothing(crm, backend, prefect_api):
    store = Store()
    page.connect(store, crm.kind)
    expected = Expected(**crm_state(crm))

    # A run that cannot get the lock in time says who holds it, and writes nothing.
    with run_lock(store.engine, crm.kind, "clients", "run-held-by-the-test", timeout=0):
        rc, output = _finish(_sync(prefect_api, crm.kind, "clients", timeout="1"))
    assert rc == 1, output
    lines = [line for line in output.splitlines() if "run-held-by-the-test" in line]
    assert len(lines) == 1, output
    assert f"pid {os.getpid()}" in lines[0] and "CRMSYNC_LOCK_TIMEOUT" in lines[0]
    with store.session() as s:
        assert s.exec(select(Client)).all() == []

    # Two runs started together, with work on both sides: both complete, one after the other.
    with store.session() as s:
        for i in range(5):
            s.add(Client(name=f"Overlap Client {i}", domain=f"overlap-{i}.example.net", status="Active"))
            expected.clients[f"Overlap Client {i}"] += 1
    crm.running.app.faults.latency_ms = 20  # longer runs, so that they meet
    first, second = _sync(prefect_api, crm.kind, timeout="240"), _sync(prefect_api, crm.kind, timeout="240")
    results = [_finish(first), _finish(second)]
    crm.running.app.faults.latency_ms = 0
    assert [rc for rc, _ in results] == [0, 0], results
    with store.session() as s:
        runs = s.exec(select(SyncRun).where(SyncRun.status == "completed")).all()
    spans = defaultdict(list)
    for run in runs:
        spans[run.cs_object].append((run.started_at, run.finished_at))
    assert {obj: len(v) for obj, v in spans.items()} == {"clients": 2, "contacts": 2, "subscriptions": 2}
    for obj, (a, b) in ((obj, sorted(v)) for obj, v in spans.items()):
        assert a[1] <= b[0], f"{obj}: two writers at once {a} {b}"
    assert_end_state(store, crm, expected)
