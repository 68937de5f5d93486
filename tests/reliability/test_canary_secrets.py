"""Canary secrets: unique tokens as the CRM credentials and the UI token, searched for everywhere.

The CLI runs as a user runs it (a process per command, forked by the run server) against
sandboxes that accept only the canaries: connect, sync (with 429s and 5xx, so retries are
logged, and a quarantined record), show, quarantine, explain, audit, preview, fields, and failing runs with
wrong canary credentials (also with CRMSYNC_DEBUG's traceback). Then no canary may appear in any
output, any Prefect log or artifact, any row of any table of the store, or any file under the
test's directory: CRMSYNC_HOME, the SQLite store and the processes' TMPDIR all live there.

The web page is read the same way: `crmsync ui` behind the canary access token, logged in with a
wrong token and then the right one, "Pull now" pressed, and every page it serves for the
integration fetched over HTTP (the list, the integration with its quarantine and conflict tables,
the import and preview pages per object, the pull status JSON, the error pages); then again with a
wrong CRM credential, where the live pages and the pull fail. No canary may be in any response.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from crmsync.models import Client
from crmsync.sandbox.http import Faults
from crmsync.store import Store
from tests.flows.conftest import CRMS, Crm
from tests.reliability.helpers import RunServer, links, server_env
from tests.reliability.ui_pages import as_text, crawl, pull_now, targets, ui_server, unserved_routes


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


def _found_in(texts: dict[str, str], needles: list[str]) -> list[str]:
    """Which texts (by their label) hold which needle (its first 12 characters)."""
    return [f"{label}: {n[:12]}…" for label, text in texts.items() for n in needles if n in text]


def _cli_outputs(cli: RunServer, kind: str, running, wrong: dict[str, str]) -> list[str]:
    """The commands a user runs, with 429s and 5xx, then syncs with a wrong credential: their outputs."""
    outputs = []
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
    for extra in ({}, {"CRMSYNC_DEBUG": "1"}):
        done = cli.run("sync", kind, env={**wrong, **extra})
        outputs.append(f"$ sync with a wrong credential {extra}\n{done.output}")
        assert done.rc not in (0, 137), outputs[-1]
    return outputs


def _make_conflict(kind: str, running, url: str, crm_env: dict[str, str], monkeypatch) -> None:
    """A client's status edited on both sides since the last sync: the next pull records a conflict."""
    for key, value in crm_env.items():
        monkeypatch.setenv(key, value)
    objects, fields = CRMS[kind]
    store = Store(url)
    cs_id, external_id = min(links(store, kind, "clients").items())
    with store.session() as s:
        base = s.get(Client, cs_id).status
    crm_value, cs_value = [v for v in ("Active", "Trial", "Inactive", "Terminated") if v != base][:2]
    Crm(kind, objects, fields, running).edit("clients", external_id, {fields["status"]: crm_value})
    with store.session() as s:
        s.exec(sa.update(Client).where(Client.id == cs_id).values(status=cs_value.lower()))


def _log_in(http: httpx.Client, canaries: dict[str, str]) -> dict[str, str]:
    """The login page, a wrong token typed (refused), then the right one (the login cookie)."""
    answers = {"/login": as_text(login := http.get("/login"))}
    for typed, status in ((canaries["wrong"], 401), (canaries["ui"], 303)):
        token = targets(login.text).csrf["/login"]
        login = http.post("/login", data={"token": typed, "csrf_token": token})
        assert login.status_code == status, as_text(login)
        answers[f"POST /login ({status})"] = as_text(login)  # the refusal is the login page again
    return answers


def _ui_pages(kind: str, env: dict[str, str], logs: Path, wrong: dict[str, str], canaries) -> dict[str, str]:
    """Every answer of `crmsync ui` for this integration, logged in and after a pull from the page;
    then the same with a wrong CRM credential. Labelled by server and URL."""
    pages: dict[str, str] = {}
    for label, extra, pulled in (("ui", {}, "completed"), ("ui-wrong-credential", wrong, "failed")):
        with ui_server({**env, **extra}, logs / f"{label}.log") as base, httpx.Client(base_url=base) as http:
            answers = _log_in(http, canaries)
            assert pull_now(http, f"/i/{kind}")["status"] == pulled
            starts = ["/", "/login", "/i/no-such-integration", f"/i/{kind}/fields?cs_object=tickets"]
            answers |= crawl(http, starts)
        assert unserved_routes(list(answers)) == [], list(answers)
        pages |= {f"{label}: {url}": text for url, text in answers.items()}
    return pages


@pytest.mark.parametrize("kind", ["hubspot", "salesforce"])
@pytest.mark.timeout(900)
def test_canary_secrets_appear_nowhere(kind, backend, prefect_api, tmp_path, monkeypatch):
    canaries = {name: _canary(name) for name in ("token", "password", "security_token", "ui", "wrong")}
    visible = _canary("visible")  # not a secret: part of a client's name, which the page shows
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
        done = cli.run("connect", kind)
        assert done.rc == 0, done.output
        with Store(url).session() as s:  # quarantined on push: the CRM has no status Churned
            s.add(Client(name=f"Churned {visible}", domain="canary-churned.example.net", status="Churned"))
        wrong = {"HUBSPOT_ACCESS_TOKEN" if kind == "hubspot" else "SALESFORCE_PASSWORD": canaries["wrong"]}
        outputs = _cli_outputs(cli, kind, running, wrong)
        _make_conflict(kind, running, url, crm_env, monkeypatch)
        pages = _ui_pages(kind, env, tmp_path / "logs", wrong, canaries)

        secrets = list(canaries.values())
        everything = "\n".join([*outputs, _prefect_text(), _store_text(url)])
        assert [c[:12] for c in secrets if c in everything] == []
        assert _found_in(pages, secrets) == []
        assert _files_with(tmp_path, secrets) == []

        # The searches find a canary where there is one: the visible one in the page's quarantine
        # table (beside a conflict table that the page's pull made), and one planted in a file.
        page = pages[f"ui: /i/{kind}"]
        assert 'id="quarantine-clients"' in page and 'id="conflicts-clients"' in page
        assert f"ui: /i/{kind}: {visible[:12]}…" in _found_in(pages, [visible])
        (tmp_path / "tmp" / "control.txt").write_text(canaries["ui"])
        assert len(_files_with(tmp_path, secrets)) == 1
    finally:
        running.stop()
        if cli is not None:
            cli.close()
