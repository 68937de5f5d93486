"""Backfill as a run of its own: windows, resume after a kill, never a push, never the cursor."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date

import pytest

from crmsync import page
from crmsync.models import Client
from crmsync.store import Store
from crmsync.store.locks import run_lock
from crmsync.store.types import Scope
from flows.backfill import backfill
from flows.sync import sync_object
from tests.flows.conftest import WRITE_LABELS
from tests.flows.test_sync import _links, _rows

COMPANIES = 3000  # one second apart from 09:00 on 2026-01-05: windows 19 and 20 of 30 minutes
DAY, NEXT = date(2026, 1, 5), date(2026, 1, 6)


@pytest.fixture
def hubspot_env(prefect_api, crmsync_home, monkeypatch):
    from crmsync.sandbox.hubspot import DEFAULT_TOKEN, start_hubspot

    running = start_hubspot(companies=COMPANIES)
    monkeypatch.setenv("HUBSPOT_BASE_URL", running.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    yield running
    running.stop()


def _backfill_in_subprocess(crash_at: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRMSYNC_CRASH_AT": crash_at}
    argv = ["backfill", "hubspot", "clients", "--since", str(DAY), "--until", str(NEXT), "--window", "30m"]
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.timeout(900)
def test_killed_backfill_reruns_only_the_unfinished_windows(hubspot_env):
    from crmsync.connectors import open_connector
    from crmsync.connectors.base import Cursor

    store = Store()
    page.connect(store, "hubspot")
    killed = _backfill_in_subprocess("backfill.window_done:19")
    assert killed.returncode == 137, killed.stderr  # killed right after its 19th window
    assert len(store.state.completed_windows("hubspot", "clients")) == 19
    # Window 19 (09:00-09:30) was loaded, window 20 not yet. The connector's ``until`` is inclusive,
    # so the record at exactly 09:30:00 comes with window 19 too (and again, harmlessly, with 20).
    assert len(_rows(store, Client)) == 1801

    result = backfill("hubspot", "clients", DAY, NEXT, "30m")

    statuses = [w["status"] for w in result["windows"]]
    assert statuses[:19] == ["already done"] * 19  # the finished windows are skipped
    assert statuses[19:] == ["completed"] * (48 - 19)
    assert result["windows"][19]["extracted"] >= 1200  # window 20 re-pulled the rest
    companies = {}
    for page_ in open_connector("hubspot").read_changed("companies", ["name"], Cursor()):
        companies.update({r.id: r.values["name"] for r in page_.records})
    clients, links = _rows(store, Client), _links(store, "hubspot", "clients")
    assert len(clients) == len(companies) == COMPANIES  # exactly the right records: none lost, none twice
    assert {external: clients[cs_id].name for cs_id, external in links.items()} == companies
    scope = Scope("hubspot", "clients", "companies")
    assert store.state.cursor(scope, "pull") == (None, "")  # a backfill never moves the incremental cursor
    writes = [label for label, n in hubspot_env.app.counters.items() if n and label.startswith(WRITE_LABELS)]
    assert writes == []  # and never pushes


def _hold_the_slot(seconds: float) -> tuple[threading.Thread, list[float]]:
    """Another run holding the object's slot for ``seconds``; gives the wall time it lets go."""
    released: list[float] = []

    def hold() -> None:
        with run_lock(Store().engine, "hubspot", "clients", "another-run"):
            time.sleep(seconds)
            released.append(time.time())

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1)  # the holder has the slot now
    return holder, released


def _last_start(store: Store) -> float:
    from sqlmodel import select

    from crmsync.models import SyncRun

    with store.session() as s:
        return max(run.started_at.timestamp() for run in s.exec(select(SyncRun)))


def test_sync_and_backfill_of_one_object_wait_for_each_other(hubspot_env):
    store = Store()
    page.connect(store, "hubspot")

    holder, released = _hold_the_slot(3)
    assert sync_object("hubspot", "clients")["status"] == "completed"
    holder.join()
    assert _last_start(store) >= released[0]  # the sync started its work only once the slot was free

    holder, released = _hold_the_slot(3)
    done = backfill("hubspot", "clients", DAY, NEXT, "1d")
    holder.join()
    assert [w["status"] for w in done["windows"]] == ["completed"]
    assert _last_start(store) >= released[0]  # so did the backfill's window


def test_runs_say_what_they_are(hubspot_env):
    from prefect.client.orchestration import get_client

    store = Store()
    page.connect(store, "hubspot")
    sync_object("hubspot", "clients")
    backfill("hubspot", "clients", DAY, NEXT, "1d")
    with get_client(sync_client=True) as client:
        names = {run.name for run in client.read_flow_runs()}
        windows = [t for t in client.read_task_runs() if t.name.startswith("backfill window")]
    assert "hubspot · clients · pull now" in names
    assert "hubspot · clients · backfill 2026-01-05..2026-01-06" in names
    assert windows and all({"hubspot", "clients", "backfill"} <= set(t.tags) for t in windows)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--since", "2026-13-01"], "is not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "must be after since"),
        (["--since", "2026-01-01", "--window", "1x"], "is not a duration"),
        (["--since", "2026-01-01", "--window", "0d"], "is not a duration"),
    ],
)
def test_bad_backfill_input_is_one_line(crmsync_home, args, reason):
    command = [sys.executable, "-m", "crmsync", "backfill", "hubspot", "clients", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and reason in done.stderr


def test_the_flow_rejects_a_bad_date_before_any_work(hubspot_env):
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError):
        backfill("hubspot", "clients", "2026-13-01")
