"""Backfill as a run of its own, per CRM: windows, resume after a kill, never a push, never the cursor."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crmsync import page
from crmsync.models import Client
from crmsync.store import Store
from crmsync.store.locks import run_lock
from crmsync.store.types import Scope
from crmsync.sync.backfill import day_start
from crmsync.sync.pull import CHUNK_SIZE
from flows.backfill import backfill
from flows.sync import sync_integration, sync_object
from tests.flows.conftest import CRMS, Crm, start_crm
from tests.flows.test_sync import _links, _rows

DAY, NEXT = date(2026, 1, 5), date(2026, 1, 6)  # the sandboxes' seeded records are modified on DAY


def _backfill_in_subprocess(kind: str, crash_at: str, window: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRMSYNC_CRASH_AT": crash_at}
    argv = ["backfill", kind, "clients", "--since", str(DAY), "--until", str(NEXT), "--window", window]
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_backfill_pulls_its_window_and_never_pushes_nor_moves_the_cursor(crm):
    store = Store()
    page.connect(store, crm.kind)
    sync_integration(crm.kind, ["clients"])
    scope, name = Scope(crm.kind, "clients", crm.objects["clients"]), crm.fields["name"]
    cursors = store.state.cursor(scope, "pull"), store.state.cursor(scope, "push")
    (a, a_ext), (b, b_ext) = sorted(_links(store, crm.kind, "clients").items())[:2]
    crm.edit("clients", a_ext, {name: "Renamed in the CRM"})  # modified now: inside today's window
    with store.session() as s:  # what a sync would push
        s.exec(sa.update(Client).where(Client.id == b).values(name="Renamed in ClientSuccess"))
        s.add(Client(name="Only in ClientSuccess", domain="only-cs.example.net", status="Active"))
    crm.reset()

    result = backfill(crm.kind, "clients", datetime.now(UTC).date(), None, "1d")

    assert [w["status"] for w in result["windows"]] == ["completed"]
    assert _rows(store, Client)[a].name == "Renamed in the CRM"  # the window's change was pulled
    assert crm.write_calls() == 0  # nothing pushed
    names = {external: values[name] for external, values in crm.all("clients", [name]).items()}
    assert names[b_ext] != "Renamed in ClientSuccess" and "Only in ClientSuccess" not in names.values()
    assert (store.state.cursor(scope, "pull"), store.state.cursor(scope, "push")) == cursors  # cursors kept


@pytest.mark.parametrize("sync_flow", [sync_object, sync_integration], ids=["object", "integration"])
def test_the_sync_flows_take_no_dates(sync_flow):
    taken = set(sync_flow.parameters.properties)
    assert "integration" in taken and not taken & {"since", "until", "window", "mode"}
    with pytest.raises(TypeError):
        sync_flow("hubspot", since=DAY)  # a backfill cannot start through a sync flow


def _hold_the_slot(kind: str, seconds: float) -> tuple[threading.Thread, list[float]]:
    """Another run holding the object's lock for ``seconds``; gives the wall time it lets go."""
    released: list[float] = []

    def hold() -> None:
        with run_lock(Store().engine, kind, "clients", "another-run"):
            time.sleep(seconds)
            released.append(time.time())

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1)  # the holder has the lock now
    return holder, released


def _last_start(store: Store) -> float:
    from sqlmodel import select

    from crmsync.models import SyncRun

    with store.session() as s:
        return max(run.started_at.timestamp() for run in s.exec(select(SyncRun)))


def test_sync_and_backfill_of_one_object_wait_for_each_other(crm):
    store = Store()
    page.connect(store, crm.kind)

    holder, released = _hold_the_slot(crm.kind, 3)
    assert sync_object(crm.kind, "clients")["status"] == "completed"
    holder.join()
    assert _last_start(store) >= released[0]  # the sync started its work only once the lock was free

    holder, released = _hold_the_slot(crm.kind, 3)
    done = backfill(crm.kind, "clients", DAY, NEXT, "1d")
    holder.join()
    assert [w["status"] for w in done["windows"]] == ["completed"]
    assert _last_start(store) >= released[0]  # so did the backfill's window


@pytest.mark.parametrize("kind", sorted(CRMS))
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--since", "2026-13-01"], "is not a date"),
        (["--since", "2026-01-01", "--until", "01/02/2026"], "is not a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "must be after since"),
        (["--since", "2026-01-01", "--until", "2026-01-01"], "must be after since"),
        (["--since", "2026-01-01", "--window", "1x"], "is not a duration"),
        (["--since", "2026-01-01", "--window", "0d"], "is not a duration"),
    ],
)
def test_bad_backfill_input_is_one_line(crmsync_home, kind, args, reason):
    command = [sys.executable, "-m", "crmsync", "backfill", kind, "clients", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and reason in done.stderr


def _plain(text: str) -> str:
    """Terminal output without its colour and cursor escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_the_cli_backfill_shows_progress_over_its_windows_and_skips_done_ones(small_crm):
    page.connect(Store(), small_crm.kind)
    argv = [
        "backfill",
        small_crm.kind,
        "clients",
        "--since",
        str(DAY),
        "--until",
        str(NEXT),
        "--window",
        "6h",
    ]
    env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}  # a terminal: rich draws the bar
    runs = [
        subprocess.run(
            [sys.executable, "-m", "crmsync", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-2000:]
    bar, said = _plain(runs[0].stderr), [_plain(run.stdout) for run in runs]
    assert f"{small_crm.kind} · clients · backfill windows" in bar and "4/4" in bar
    assert "4 window(s) re-pulled (5 records), 0 already done before" in said[0]
    assert "0 window(s) re-pulled (0 records), 4 already done before" in said[1]
    assert small_crm.write_calls() == 0


def test_the_flow_rejects_a_bad_date_before_any_work(crm):
    from prefect.exceptions import ParameterTypeError

    store = Store()
    page.connect(store, crm.kind)
    crm.reset()
    with pytest.raises(ParameterTypeError):
        backfill(crm.kind, "clients", "2026-13-01")
    with pytest.raises(ParameterTypeError):
        backfill(crm.kind, "clients", DAY, "next tuesday")
    assert crm.calls() == 0 and not store.state.completed_windows(crm.kind, "clients")


def test_the_backfill_deployment_rejects_a_bad_date_or_window_when_the_run_is_created(deployed_crm):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    crm, _ = deployed_crm
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"crmsync-backfill/{crm.kind}-clients-backfill")
        assert not deployment.schedules and deployment.enforce_parameter_schema
        for bad in (
            {"since": "2026-13-01"},
            {"since": "2026-01-01", "until": "soon"},
            {"since": "2026-01-01", "window": "1x"},
        ):
            with pytest.raises(PrefectHTTPStatusError, match="409"):
                client.create_flow_run_from_deployment(deployment.id, parameters=bad)  # the UI's Custom run
        good = client.create_flow_run_from_deployment(deployment.id, parameters={"since": "2026-01-05"})
        assert good.parameters["since"] == "2026-01-05"
        client.delete_flow_run(good.id)  # no worker here: don't leave it scheduled


# ---------------------------------------------------------------------------------------------
# 50,000 records killed mid-way and re-run, per CRM (one store backend each: 4 runs would cost
# twice the time for a lock and a store that the small tests above already run on both).

BIG = 50_000  # seeded one second apart from 09:00 on DAY: 09:00:00 .. 22:53:19
SIX_HOURS = [
    (day_start(DAY) + timedelta(hours=h), day_start(DAY) + timedelta(hours=h + 6)) for h in (0, 6, 12, 18)
]
MORNING = 3 * 3600 + 1  # records modified 09:00:00 .. 12:00:00 (a window's end is read inclusively)


@pytest.fixture(
    params=[("hubspot", "sqlite"), ("salesforce", "postgres")], ids=["hubspot-sqlite", "salesforce-postgres"]
)
def big_crm(request, prefect_api, crmsync_home, monkeypatch) -> Crm:
    """A sandbox of 50,000 companies / Accounts, seeded in-process; the env points the CLI at it."""
    kind, backend = request.param
    if backend == "postgres":
        from tests.fixtures.store import postgres_schema_url

        url = postgres_schema_url(request.getfixturevalue("postgres_database"))
        monkeypatch.setenv("CRMSYNC_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)  # the CLI's backfill runs against the test server
    crm = start_crm(kind, monkeypatch, companies=BIG)
    yield crm
    crm.running.stop()


def _sandbox_names(crm: Crm) -> dict[str, str]:
    """Every live company / Account in the sandbox's memory, by CRM id: what the store must mirror."""
    if crm.kind == "hubspot":
        return {str(r.id): r.props["name"] for r in crm.running.app.stores["companies"].live.values()}
    accounts = crm.running.app.org.store("Account")
    records = (accounts.get(i) for i in range(accounts.next_index))
    return {r["Id"]: r["Name"] for r in records if r and not r["IsDeleted"]}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_50k_backfill_reruns_only_its_unfinished_windows(big_crm):
    crm, store = big_crm, Store()
    page.connect(store, crm.kind)
    # Killed at a chunk's commit inside 12:00-18:00: the two windows before it are done and recorded,
    # the afternoon's first chunk is loaded, and the afternoon is not recorded.
    assert CHUNK_SIZE < 6 * 3600  # the afternoon window has more than one chunk to die between
    killed = _backfill_in_subprocess(
        crm.kind, f"pull.before_commit:{math.ceil(MORNING / CHUNK_SIZE) + 2}", "6h"
    )
    assert killed.returncode == 137, killed.stderr
    assert store.state.completed_windows(crm.kind, "clients") == set(SIX_HOURS[:2])
    assert MORNING < len(_rows(store, Client)) < BIG  # part of the unfinished window was loaded

    result = backfill(crm.kind, "clients", DAY, NEXT, "6h")

    statuses = [w["status"] for w in result["windows"]]
    assert statuses == ["already done", "already done", "completed", "completed"]  # finished ones skipped
    assert store.state.completed_windows(crm.kind, "clients") == set(SIX_HOURS)
    truth = _sandbox_names(crm)
    clients, links = _rows(store, Client), _links(store, crm.kind, "clients")
    assert len(truth) == len(clients) == len(links) == BIG  # exactly the right records: none lost, none twice
    assert {external: clients[cs_id].name for cs_id, external in links.items()} == truth
    scope = Scope(crm.kind, "clients", crm.objects["clients"])
    assert store.state.cursor(scope, "pull") == (None, "")  # a backfill never moves the incremental cursor
    assert crm.write_calls() == 0  # and neither run pushed
