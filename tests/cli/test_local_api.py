"""``crmsync sync`` without a Prefect server: Prefect's temporary API, started as the command begins.

The command must run its flow through Prefect's API all the same (the run is in Prefect's
database under PREFECT_HOME, named as a pull now), leave no server process behind, and keep
its hands off a configured API.
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


@pytest.mark.timeout(900)  # a Prefect server starts inside; a loaded machine has needed minutes
def test_a_pull_now_without_a_server_runs_through_prefects_temporary_api(
    crmsync_home, hubspot_sandbox_factory
):
    sandbox = hubspot_sandbox_factory(companies=20, contacts=30, deals=10)
    prefect_home = crmsync_home / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(prefect_home),
        "HUBSPOT_BASE_URL": sandbox.url,
        "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN,
        "CRMSYNC_CRASH_AT": "pull.before_commit",
    }

    def crmsync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "crmsync", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

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
    with sqlite3.connect(prefect_home / "prefect.db") as db:  # the run went through Prefect's API
        names = [row[0] for row in db.execute("SELECT name FROM flow_run")]
    assert names == ["hubspot · pull now"] * 2  # the killed run and this one
    assert _processes_with(str(prefect_home)) == []  # the temporary server went with the command
    assert "telemetry" not in done.stderr  # the server runs as quietly as Prefect's own


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
