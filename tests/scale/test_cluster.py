"""A real cluster on one machine: a Prefect server on PostgreSQL, a process work pool, two workers.

The test starts everything on loopback and stops everything it started: a self-hosted Prefect
server whose database is a throw-away PostgreSQL database, two workers on one process work pool,
and two sandbox CRMs (HubSpot over HTTP, Salesforce over HTTPS). crmsync's store is another
throw-away PostgreSQL database. ``crmsync deploy`` makes the deployments; the schedule makes runs
(brought forward to now, so the test need not wait five minutes) and ``crmsync sync --deployment``
makes "pull now" runs, for both integrations. The workers start in an empty directory with an
environment that holds no crmsync setting and no credential: the store and home come from the
deployments' job variables, the credentials from Prefect Secret blocks, and the Salesforce
sandbox's CA from the work pool's job variables.

PostgreSQL missing is a failure, never a skip.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from crmsync.sandbox.hubspot import DEFAULT_TOKEN, start_hubspot
from crmsync.sandbox.salesforce import start_salesforce
from tests.fixtures.processes import stop
from tests.fixtures.store import POSTGRES_URL

BIN = Path(sys.executable).parent
POOL = "crmsync-cluster"
SIZES = {"companies": 40, "contacts": 60, "deals": 30}
SF_ACCOUNTS = 15
RUN_TIMEOUT = 150


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _database(prefix: str):
    """A throw-away PostgreSQL database; its name. Dropped afterwards, connections and all."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc.orig})", pytrace=False)
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _pg_url(driver: str, database: str) -> str:
    url = sa.make_url(POSTGRES_URL).set(drivername=f"postgresql+{driver}", database=database)
    return url.render_as_string(hide_password=False)


@contextmanager
def _process(args: list[str], env: dict[str, str], cwd: Path, log: Path):
    """A child process with its output in ``log``; terminated (then killed) afterwards."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def _clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of crmsync, no credential, and its own Prefect home."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "PREFECT_HOME": str(tmp / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **extra,
    }


@contextmanager
def _prefect_server(tmp: Path, database: str):
    port = _free_port()
    env = _clean_env(
        tmp,
        PREFECT_API_DATABASE_CONNECTION_URL=_pg_url("asyncpg", database),
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
    )
    api = f"http://127.0.0.1:{port}/api"
    args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with _process(args, env, tmp, tmp / "server.log") as server:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp / "server.log").read_text()[-2000:]
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not answer within 150 s")
        yield api


def _crmsync(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "crmsync"), *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"crmsync {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _seed_salesforce_accounts(sandbox, monkeypatch) -> None:
    """Accounts of its own (the seed's names are HubSpot's too), written through the real API."""
    from crmsync.connectors.base import WriteRequest
    from crmsync.connectors.salesforce.connector import SalesforceConnector
    from crmsync.secrets import Secret

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_file)
    connector = SalesforceConnector(instance_url=sandbox.url, access_token=Secret(sandbox.token))
    writes = [
        WriteRequest(key=f"sf-{i}", values={"Name": f"Pacific {i}", "Website": f"https://sf-{i}.example.org"})
        for i in range(SF_ACCOUNTS)
    ]
    assert all(result.ok for result in connector.write("Account", writes))


@contextmanager
def _prefect(api: str):
    """This process's Prefect client settings pointed at the cluster's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}):
        yield


def _secrets_and_pool(api: str, hubspot, salesforce) -> None:
    """Credentials as Prefect Secret blocks; the process pool carries the sandbox CA as a job variable."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    with _prefect(api):
        for name, value in {
            "hubspot-access-token": DEFAULT_TOKEN,
            "hubspot-base-url": hubspot.url,
            "salesforce-instance-url": salesforce.url,
            "salesforce-access-token": salesforce.token,
        }.items():
            Secret(value=value).save(name, overwrite=True)
        template = ProcessWorker.get_default_base_job_template()
        # TLS trust is the machine's, not a credential: the pool gives every run the sandbox's CA.
        template["variables"]["properties"]["env"]["default"] = {"REQUESTS_CA_BUNDLE": salesforce.ca_file}
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process", base_job_template=template))


def _configure(env: dict[str, str], monkeypatch) -> None:
    """Two integrations, every object pull-only (the runs' order then cannot change the result)."""
    from crmsync import page
    from crmsync.store import Store

    monkeypatch.setenv("CRMSYNC_HOME", env["CRMSYNC_HOME"])  # connect writes the mapping file there
    store = Store(env["CRMSYNC_DATABASE_URL"])
    for kind in ("hubspot", "salesforce"):
        page.connect(store, kind)
        for cs_object in ("clients", "contacts", "subscriptions"):
            store.settings.set_direction(kind, cs_object, "pull")
        store.settings.set_schedule(kind, "5m")
    store.engine.dispose()
    lines = _crmsync(env, "deploy")
    assert "crmsync-integration/hubspot: every 5 min" in lines
    assert "crmsync-integration/salesforce: every 5 min" in lines


def _bring_schedules_forward(api: str) -> list[str]:
    """The first run each integration's schedule made, moved to now (it keeps being a scheduled run)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
    from prefect.states import Scheduled

    moved = []
    with _prefect(api), get_client(sync_client=True) as client:
        for name in ("hubspot", "salesforce"):
            deadline = time.monotonic() + 60
            runs = []
            while not runs and time.monotonic() < deadline:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                    flow_run_filter=FlowRunFilter(),
                    sort="EXPECTED_START_TIME_ASC",
                    limit=1,
                )
                runs = [r for r in runs if r.auto_scheduled]
                time.sleep(0.5)
            assert runs, f"the scheduler made no run of {name} within 60 s"
            client.set_flow_run_state(runs[0].id, Scheduled(), force=True)
            moved.append(str(runs[0].id))
    return moved


def _wait_for(api: str, run_ids: list[str]) -> list:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + RUN_TIMEOUT
    with _prefect(api), get_client(sync_client=True) as client:
        while True:
            runs = [client.read_flow_run(uuid.UUID(run_id)) for run_id in run_ids]
            if all(run.state and run.state.is_final() for run in runs) or time.monotonic() > deadline:
                return runs
            time.sleep(1)


def _worker_args(name: str) -> list[str]:
    return [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name, "--limit", "1"]


def _taken_by(logs: dict[str, Path]) -> dict[str, set[str]]:
    """The flow run ids each worker said it submitted."""
    pattern = re.compile(r"[Ss]ubmitting flow run '([0-9a-f-]{36})'")
    return {name: set(pattern.findall(log.read_text())) for name, log in logs.items()}


def _counts(url: str) -> dict:
    from sqlmodel import func, select

    from crmsync.models import Client, Contact, RecordLink, Subscription, SyncRun
    from crmsync.store import Store

    store = Store(url)
    with store.session() as s:
        counts = {
            m.__tablename__: s.exec(select(func.count()).select_from(m)).one()
            for m in (Client, Contact, Subscription)
        }
        links = s.exec(
            select(RecordLink.integration, RecordLink.cs_object, func.count()).group_by(
                RecordLink.integration, RecordLink.cs_object
            )
        )
        counts["links"] = {f"{i}/{o}": n for i, o, n in links}
        counts["runs"] = {
            (r.flow_run_id, r.integration, r.cs_object, r.status) for r in s.exec(select(SyncRun))
        }
    store.engine.dispose()
    return counts


def _deployment_env(api: str, name: str) -> dict:
    from prefect.client.orchestration import get_client

    with _prefect(api), get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"crmsync-integration/{name}").job_variables["env"]


def _overlap(a, b) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time


def test_two_workers_run_both_integrations_from_a_postgres_backed_server(tmp_path, monkeypatch):
    with ExitStack() as stack:
        prefect_db = stack.enter_context(_database("crmsync_prefect"))
        store_url = _pg_url("psycopg", stack.enter_context(_database("crmsync_store")))
        hubspot = start_hubspot(**SIZES)
        stack.callback(hubspot.stop)
        salesforce = start_salesforce(0, 0, 0)
        stack.callback(salesforce.stop)
        _seed_salesforce_accounts(salesforce, monkeypatch)
        (tmp_path / "server").mkdir()
        api = stack.enter_context(_prefect_server(tmp_path / "server", prefect_db))
        _secrets_and_pool(api, hubspot, salesforce)
        operator = {
            **os.environ,
            "CRMSYNC_HOME": str(tmp_path / "home"),
            "CRMSYNC_DATABASE_URL": store_url,
            "PREFECT_API_URL": api,
            "CRMSYNC_WORK_POOL": POOL,
            "HUBSPOT_BASE_URL": hubspot.url,
            "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN,
            **salesforce.env(),
        }
        _configure(operator, monkeypatch)

        logs, workdirs = {}, []
        for name in ("worker-1", "worker-2"):
            workdir, home = tmp_path / f"{name}-cwd", tmp_path / f"{name}-home"
            workdir.mkdir()
            home.mkdir()
            workdirs.append(workdir)
            logs[name] = tmp_path / f"{name}.log"
            env = _clean_env(
                home, PATH=f"{BIN}:/usr/bin:/bin", PREFECT_API_URL=api, PREFECT_WORKER_QUERY_SECONDS="1"
            )
            stack.enter_context(_process(_worker_args(name), env, workdir, logs[name]))

        scheduled = _bring_schedules_forward(api)
        pull_now = [
            re.search(r"\(([0-9a-f-]{36})\)", _crmsync(operator, "sync", kind, "--deployment")).group(1)
            for kind in ("hubspot", "salesforce")
        ]
        runs = _wait_for(api, scheduled + pull_now)
        worker_logs = {name: log.read_text() for name, log in logs.items()}
        store = _counts(store_url)
        deployment_env = _deployment_env(api, "hubspot")

    states = {run.name: run.state.type.value for run in runs}
    assert sorted(states.values()) == ["COMPLETED"] * 4, (states, worker_logs)
    assert sorted(states) == [
        "hubspot · pull now",
        "hubspot · scheduled",
        "salesforce · pull now",
        "salesforce · scheduled",
    ]
    taken = _taken_by(logs)
    assert all(taken.values()), taken  # both workers took runs
    assert set().union(*taken.values()) == {str(run.id) for run in runs}
    by_kind = {kind: [r for r in runs if r.name.startswith(kind)] for kind in ("hubspot", "salesforce")}
    assert any(_overlap(a, b) for a in by_kind["hubspot"] for b in by_kind["salesforce"])
    assert all(not any(d.iterdir()) for d in workdirs)  # nothing came from (or went to) where they started
    for text in worker_logs.values():
        assert DEFAULT_TOKEN not in text and salesforce.token not in text
    # The store, on PostgreSQL, holds what both CRMs had, each record linked once, and the runs' ledger.
    assert (store["clients"], store["contacts"], store["subscriptions"]) == (40 + SF_ACCOUNTS, 60, 30)
    assert store["links"] == {
        "hubspot/clients": 40,
        "hubspot/contacts": 60,
        "hubspot/subscriptions": 30,
        "salesforce/clients": SF_ACCOUNTS,
    }
    ledger = {
        (flow_run, integration) for flow_run, integration, _, status in store["runs"] if status == "completed"
    }
    assert {(str(run.id), run.name.split(" ")[0]) for run in runs} <= ledger
    # Workers were given the store and home by the deployment, never a credential.
    assert deployment_env == {"CRMSYNC_DATABASE_URL": store_url, "CRMSYNC_HOME": str(tmp_path / "home")}
