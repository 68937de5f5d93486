"""Canary secrets: unique tokens as the CRM credentials and the UI token, searched for everywhere.

The CLI runs as a user runs it (a process per command, forked by the run server) against
sandboxes that accept only the canaries: connect, sync (with 429s and 5xx, so retries are
logged, and a quarantined record), show, quarantine, explain, audit, preview, fields, and failing runs with
wrong canary credentials (also with CRMSYNC_DEBUG's traceback). Then no canary may appear in any
output, any Prefect log or artifact, any row of any table of the store, or any file under the
test's directory: CRMSYNC_HOME, the SQLite store and the processes' TMPDIR all live there.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.models import Client
from crmsync.sandbox.http import Faults
from crmsync.store import Store
from tests.reliability.helpers import RunServer, server_env


def _canary(what: str) -> str:
    return f"canary{what}{uuid.uuid4().hex}"


def _start(kind: str, tmp_path: Path, canaries: dict[str, str]):
    """A sandbox that accepts only the canary credentials, and the environment that holds them."""
    if kind == "hubspot":
        from crmsync.sandbox.hubspot import start_hubspot

        running = start_hubspot(companies=20, contacts=20, deals=10, token=canaries["token"])
        return running, {"HUBSPOT_BASE_URL": running.url, "HUBSPOT_ACCESS_TOKEN": canaries["token"]}
    from crmsync.sandbox.salesforce import start_salesforce

    running = start_salesforce(
        20,
        20,
        10,
        ca_file=tmp_path / "ca.pem",
        token=canaries["token"],
        username="canary.user@example.com",
        password=canaries["password"],
        security_token=canaries["security_token"],
    )
    env = {
        "SALESFORCE_INSTANCE_URL": running.url,
        "REQUESTS_CA_BUNDLE": str(running.ca_file),
        "SALESFORCE_USERNAME": "canary.user@example.com",
        "SALESFORCE_PASSWORD": canaries["password"],
        "SALESFORCE_SECURITY_TOKEN": canaries["security_token"],
    }
    return running, env


def _store_text(url: str) -> str:
    """Every row of every table of the store, as text."""
    engine = sa.create_engine(url)
    chunks = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.select(sa.Table(table, sa.MetaData(), autoload_with=conn))).all()
            chunks.append(f"{table}: {rows!r}")
    engine.dispose()
    assert len(chunks) >= 10, chunks  # the tables were really read
    return "\n".join(chunks)


def _files_with(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n[:12]}…" for n in needles if n.encode() in data]
    return found


def _every(read) -> list:
    """All the rows of a Prefect read, 200 (the API's maximum) at a time."""
    rows: list = []
    while True:
        page = read(limit=200, offset=len(rows))
        rows += page
        if len(page) < 200:
            return rows


def _prefect_text() -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter

    with get_client(sync_client=True) as client:
        logs = _every(lambda **page: client.read_logs(log_filter=LogFilter(), **page))
        artifacts = _every(client.read_artifacts)
    assert logs and artifacts  # the runs really logged and published
    return "\n".join(
        [*(log.message for log in logs), *(repr(a.data) + repr(a.description) for a in artifacts)]
    )


@pytest.mark.parametrize("kind", ["hubspot", "salesforce"])
@pytest.mark.timeout(900)
def test_canary_secrets_appear_nowhere(kind, backend, prefect_api, tmp_path, monkeypatch):
    canaries = {name: _canary(name) for name in ("token", "password", "security_token", "ui", "wrong")}
    running, crm_env = _start(kind, tmp_path, canaries)
    cli = None
    try:
        (tmp_path / "tmp").mkdir()
        env = {
            **server_env(prefect_api),
            **crm_env,
            "CRMSYNC_UI_TOKEN": canaries["ui"],
            "TMPDIR": str(tmp_path / "tmp"),
        }
        url = env["CRMSYNC_DATABASE_URL"]
        (tmp_path / "logs").mkdir()
        cli = RunServer(env, tmp_path / "logs")  # each command a forked `crmsync` process
        outputs = []
        done = cli.run("connect", kind)
        assert done.rc == 0, done.output
        with Store(url).session() as s:
            s.add(Client(name="Canary Churned Co", domain="canary-churned.example.net", status="Churned"))
        running.app.faults = Faults(rate_limit_every=4, error_every=7)
        if kind == "hubspot":
            running.app.retry_after_seconds = 0
        for argv in (
            ("sync", kind),
            ("show", kind, "--json"),
            ("quarantine", kind, "--json"),
            ("explain", kind, "clients", "1"),
            ("audit", kind, "--json"),
            ("preview", kind, "--json"),
            ("fields", kind, "clients", "--json"),
        ):
            done = cli.run(*argv)
            outputs.append(f"$ {argv}\n{done.output}")
            assert done.rc == 0, outputs[-1]
        assert "Churned" in outputs[2]  # the quarantine really holds a record and its reason
        running.app.faults = Faults()
        wrong = {"HUBSPOT_ACCESS_TOKEN" if kind == "hubspot" else "SALESFORCE_PASSWORD": canaries["wrong"]}
        for extra in ({}, {"CRMSYNC_DEBUG": "1"}):
            done = cli.run("sync", kind, env={**wrong, **extra})
            outputs.append(f"$ sync with a wrong credential {extra}\n{done.output}")
            assert done.rc not in (0, 137), outputs[-1]

        secrets = list(canaries.values())
        everything = "\n".join([*outputs, _prefect_text(), _store_text(url)])
        assert [c[:12] for c in secrets if c in everything] == []
        assert _files_with(tmp_path, secrets) == []

        # The search itself finds a canary where there is one.
        (tmp_path / "tmp" / "control.txt").write_text(canaries["ui"])
        assert len(_files_with(tmp_path, secrets)) == 1
    finally:
        running.stop()
        if cli is not None:
            cli.close()
