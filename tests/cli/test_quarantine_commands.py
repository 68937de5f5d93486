"""``crmsync quarantine``: list the records kept aside, replay them; and the retry back-off behind it."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from crmsync import page
from crmsync.models import QuarantineRecord, utcnow
from crmsync.store import Store
from crmsync.store import quarantine as kept


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=60,
    )


@pytest.fixture
def store(crmsync_home) -> Store:
    store = Store()
    page.connect(store, "hubspot")
    return store


def _kept(store: Store, key: str, first_ago: timedelta, last_ago: timedelta, **extra) -> None:
    now = utcnow()
    with store.session() as s:
        s.add(
            QuarantineRecord(
                integration="hubspot",
                cs_object="clients",
                direction="push",
                record_key=key,
                raw={"name": key},
                reason=f"{key} was refused",
                rule="crm_rejected",
                first_seen_at=now - first_ago,
                last_seen_at=now - last_ago,
                **extra,
            )
        )


def test_quarantine_lists_then_replays_the_records(store):
    _kept(store, "7", timedelta(minutes=1), timedelta(minutes=1))
    listed = _cli("quarantine", "hubspot", "clients", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["key"], row["direction"], row["rule"], row["reason"]) == (
        "7",
        "push",
        "crm_rejected",
        "7 was refused",
    )
    assert {"first_seen", "last_seen", "next_retry"} <= set(row)
    assert "7 was refused" in _cli("quarantine", "hubspot").stdout
    assert kept.due_keys(store.engine, "hubspot", "clients", "push") == []  # backing off
    replayed = _cli("quarantine", "hubspot", "--replay")
    assert replayed.returncode == 0, replayed.stderr
    assert kept.due_keys(store.engine, "hubspot", "clients", "push") == ["7"]


def test_quarantine_of_an_unknown_integration_is_one_line(crmsync_home):
    result = _cli("quarantine", "nope")
    assert result.returncode != 0 and "unknown integration 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_quarantined_pushes_are_retried_on_a_growing_back_off(store):
    _kept(store, "1", timedelta(minutes=2), timedelta(minutes=2))  # seen once, 2 min ago: wait 5 min
    _kept(store, "2", timedelta(minutes=10), timedelta(minutes=10))  # 10 min ago: due
    _kept(store, "3", timedelta(hours=3), timedelta(hours=1))  # failing for 2 h: waits 2 h more
    _kept(store, "4", timedelta(days=5), timedelta(hours=25))  # capped at 24 h: due
    assert sorted(kept.due_keys(store.engine, "hubspot", "clients", "push")) == ["2", "4"]
