"""``crmsync sync`` without a Prefect server: Prefect's local API, started as the command begins.

The command must run its flow through Prefect's API all the same (the run is in Prefect's
database under PREFECT_HOME, named as a pull now) and keep its hands off a configured API.
By default the local API is shared: later commands use it, and it stops itself when idle,
removing its record. With ``CRMSYNC_LOCAL_API_IDLE=0`` it is the command's own and leaves no
process behind, even when the command is killed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crmsync import local_api
from crmsync.sandbox.hubspot import DEFAULT_TOKEN


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the test's own PREFECT_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _cli(env: dict[str, str]):
    def crmsync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "crmsync", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return crmsync


def _env(prefect_home: Path, sandbox, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {
        "PREFECT_HOME": str(prefect_home),
        "HUBSPOT_BASE_URL": sandbox.url,
        "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN,
        **extra,
    }


def _flow_runs(prefect_home: Path) -> list[str]:
    with sqlite3.connect(prefect_home / "prefect.db") as db:  # the runs went through Prefect's API
        return [row[0] for row in db.execute("SELECT name FROM flow_run")]


@pytest.mark.timeout(900)  # a Prefect server starts inside; a loaded machine has needed minutes
def test_a_pull_now_without_a_server_runs_through_its_own_temporary_api(
    crmsync_home, hubspot_sandbox_factory
):
    sandbox = hubspot_sandbox_factory(companies=20, contacts=30, deals=10)
    prefect_home = crmsync_home / "prefect-home"
    env = _env(prefect_home, sandbox, CRMSYNC_CRASH_AT="pull.before_commit", CRMSYNC_LOCAL_API_IDLE="0")
    crmsync = _cli(env)

    assert crmsync("connect", "hubspot").returncode == 0
    killed = crmsync("sync", "hubspot")  # killed mid-run: no atexit, no clean stop of the server
    assert killed.returncode == 137
    for _ in range(100):
        if not _processes_with(str(prefect_home)):
            break
        time.sleep(0.1)
    assert _processes_with(str(prefect_home)) == []  # the server died with its command

    del env["CRMSYNC_CRASH_AT"]
    done = crmsync("sync", "hubspot", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [o["created"] for o in result["objects"]] == [20, 30, 10]
    assert _flow_runs(prefect_home) == ["hubspot · pull now"] * 2  # the killed run and this one
    assert _processes_with(str(prefect_home)) == []  # the temporary server went with the command
    assert "telemetry" not in done.stderr  # the server runs as quietly as Prefect's own
    assert not (prefect_home / local_api.RECORD).exists()


def _record(prefect_home: Path) -> dict:
    return json.loads((prefect_home / local_api.RECORD).read_text(encoding="utf-8"))


def _server_environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


@pytest.mark.timeout(900)
def test_the_local_api_is_shared_by_later_commands_and_stops_itself_when_idle(
    crmsync_home, hubspot_sandbox_factory
):
    sandbox = hubspot_sandbox_factory(companies=20, contacts=30, deals=10)
    prefect_home = crmsync_home / "prefect-home"
    env = _env(prefect_home, sandbox, CRMSYNC_LOCAL_API_IDLE="20")
    crmsync = _cli(env)
    assert crmsync("connect", "hubspot").returncode == 0

    killed = _cli({**env, "CRMSYNC_CRASH_AT": "pull.before_commit"})("sync", "hubspot")
    assert killed.returncode == 137  # killed mid-run: the shared server stays
    server = _record(prefect_home)
    assert _processes_with(str(prefect_home)) == [server["pid"]]
    assert DEFAULT_TOKEN.encode() not in _server_environ(server["pid"])  # no CRM credentials in it

    first = crmsync("sync", "hubspot", "--json")
    assert first.returncode == 0, first.stderr
    again = crmsync("sync", "hubspot", "--json")
    assert again.returncode == 0, again.stderr
    assert _record(prefect_home) == server  # the same server served all three
    assert _processes_with(str(prefect_home)) == [server["pid"]]
    assert _flow_runs(prefect_home) == ["hubspot · pull now"] * 3
    assert [o["created"] for o in json.loads(first.stdout)["objects"]] == [20, 30, 10]
    assert [o["created"] for o in json.loads(again.stdout)["objects"]] == [0, 0, 0]

    for _ in range(600):  # 20 s without a request, then it stops and removes its record
        if not _processes_with(str(prefect_home)):
            break
        time.sleep(0.1)
    assert _processes_with(str(prefect_home)) == []
    assert not (prefect_home / local_api.RECORD).exists()


def test_a_record_of_a_dead_or_different_server_is_not_used(monkeypatch, tmp_path):
    """The record names a server; a command uses it only if it is alive, answers, and runs the
    same Prefect from the same interpreter."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record = {"pid": int(dead.stdout), "port": 9, **local_api._identity()}
    (tmp_path / local_api.RECORD).write_text(json.dumps(record), encoding="utf-8")
    assert local_api._reusable(tmp_path) is None  # its process is gone

    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "health").write_text("true", encoding="utf-8")
    port = local_api._free_port()
    answering = subprocess.Popen(  # alive and answering /api/health: a plain file server
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        alive = {"pid": answering.pid, "port": port, **local_api._identity()}
        (tmp_path / local_api.RECORD).write_text(json.dumps(alive), encoding="utf-8")
        assert local_api._reusable(tmp_path) == f"http://127.0.0.1:{port}/api"
        (tmp_path / local_api.RECORD).write_text(json.dumps({**alive, "prefect": "2.0.0"}), encoding="utf-8")
        assert local_api._reusable(tmp_path) is None  # another Prefect version's server
    finally:
        answering.terminate()
        answering.wait()


def test_a_shared_server_that_lost_its_port_is_started_again_elsewhere(monkeypatch, tmp_path):
    """Uvicorn exits with 3 when its port was taken before it bound it: the command starts the
    shared server again on another port (and does not take its own old address for a
    configured API)."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.setenv("CRMSYNC_LOCAL_API_IDLE", "60")
    # Empty, not deleted: monkeypatch restores only what it set or deleted, and start() sets both.
    monkeypatch.setenv("PREFECT_API_URL", "")
    monkeypatch.setenv("CRMSYNC_LOCAL_PREFECT_API", "")
    monkeypatch.chdir(tmp_path)
    launched: list[int] = []

    def launch(port: int, idle: float) -> subprocess.Popen:
        launched.append(port)
        code = "import sys; sys.exit(3)" if len(launched) == 1 else "import time; time.sleep(30)"
        return subprocess.Popen([sys.executable, "-c", code, "-m", "crmsync.local_api"])

    monkeypatch.setattr(local_api, "_launch", launch)
    monkeypatch.setattr(local_api, "_process", None)
    local_api.start()
    first = os.environ["PREFECT_API_URL"]
    local_api._process.args[1:3] = ["-m", "crmsync.local_api"]  # as the real shared server's
    local_api._process.wait()
    try:
        local_api._restart_if_port_taken()
        assert len(launched) == 2
        assert os.environ["PREFECT_API_URL"] != first
        assert os.environ["PREFECT_API_URL"] == f"http://127.0.0.1:{launched[1]}/api"
        assert _record(tmp_path)["pid"] == local_api._process.pid
    finally:
        local_api._process.kill()
        local_api._process.wait()
        monkeypatch.undo()  # the environment as it was, then Prefect's settings read from it again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # the restart pointed Prefect at the dead test address


def test_a_configured_api_is_left_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(local_api, "_process", None)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    local_api.start()
    assert local_api._process is None
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api"


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("profiles.toml", 'active = "cloud"\n[profiles.cloud]\nPREFECT_API_URL = "https://x/api"\n'),
        ("prefect.toml", '[api]\nurl = "http://127.0.0.1:4200/api"\n'),
    ],
)
def test_an_api_named_in_prefects_settings_files_is_left_to_prefect(monkeypatch, tmp_path, where, text):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "home" / where if where == "profiles.toml" else tmp_path / where
    target.write_text(text, encoding="utf-8")
    assert local_api._configured_elsewhere()
    target.unlink()
    assert not local_api._configured_elsewhere()
