"""A run killed with kill -9: the next run takes its lock over and marks it crashed."""

from __future__ import annotations

from sqlmodel import select

from crmsync.models import SyncRun
from tests.flows.test_sync import _connect, _sync_in_subprocess


def test_a_killed_run_is_marked_crashed_by_the_next_run(crm, prefect_api):
    store = _connect(crm.kind)
    assert _sync_in_subprocess(crm.kind, "pull.before_commit", prefect_api) == 137  # killed holding the lock
    assert _sync_in_subprocess(crm.kind, None, prefect_api) == 0  # not blocked by the dead run's lock
    with store.session() as s:
        runs = s.exec(select(SyncRun).order_by(SyncRun.started_at)).all()
    statuses = [(r.cs_object, r.status) for r in runs]
    assert statuses[0] == ("clients", "crashed")
    assert "ended without finishing" in runs[0].message
    assert [status for _, status in statuses[1:]] == ["completed"] * 3
