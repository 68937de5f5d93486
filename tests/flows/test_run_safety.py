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


def test_a_quiet_run_does_not_resend_a_quarantined_record_until_its_back_off_ends(crm):
    from crmsync.models import Client
    from crmsync.store import quarantine
    from flows.sync import sync_integration

    store = _connect(crm.kind)
    with store.session() as s:
        s.add(Client(name="Bad Status Client", domain="bad-status.example.net", status="Churned"))
    assert sync_integration(crm.kind, ["clients"])["objects"][0]["quarantined"] == 1
    crm.reset()
    quiet = sync_integration(crm.kind, ["clients"])["objects"][0]
    assert quiet["quarantined"] == 0  # backing off: not read, validated or sent again
    assert crm.write_calls() == 0
    assert quarantine.replay(store.engine, crm.kind, "clients") == 1
    assert sync_integration(crm.kind, ["clients"])["objects"][0]["quarantined"] == 1  # retried, still bad
