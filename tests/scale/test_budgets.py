"""Per-account API budgets: concurrent runs against one CRM account stay within its limits together.

Two installations (two stores) sync the same HubSpot sandbox at the same time, each in its own
process, with budgets on and a small limit. The sandbox timestamps every request it receives;
whatever window we slide over them, the two runs together never exceed the limit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from crmsync import page
from crmsync.budgets import budget_for, describe
from crmsync.cli.app import app
from crmsync.store import Store

REQUESTS_PER_10S = 8
SEARCHES_PER_SECOND = 3


def _most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of requests that arrived within ``window`` seconds of one another."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def _env(tmp_path, name: str, sandbox, prefect_api: str) -> dict[str, str]:
    home = tmp_path / name
    return {
        **os.environ,
        "CRMSYNC_HOME": str(home),
        "CRMSYNC_DATABASE_URL": f"sqlite:///{home / 'crmsync.db'}",
        "HUBSPOT_BASE_URL": sandbox.url,
        "PREFECT_API_URL": prefect_api,
        "CRMSYNC_API_BUDGET": "on",
        "CRMSYNC_HUBSPOT_REQUESTS_PER_10S": str(REQUESTS_PER_10S),
        "CRMSYNC_HUBSPOT_SEARCHES_PER_SECOND": str(SEARCHES_PER_SECOND),
    }


def _connect(env: dict[str, str], monkeypatch) -> None:
    """Connect the integration in this process (a CLI process would cost Prefect's start-up again)."""
    for key in ("CRMSYNC_HOME", "CRMSYNC_DATABASE_URL"):
        monkeypatch.setenv(key, env[key])
    page.connect(Store(), "hubspot")


def test_two_concurrent_runs_on_one_account_stay_within_its_budget(
    tmp_path, prefect_api, hubspot_sandbox_factory, monkeypatch
):
    sandbox = hubspot_sandbox_factory(companies=40, contacts=60, deals=30)
    envs = [_env(tmp_path, name, sandbox, prefect_api) for name in ("east", "west")]
    for env in envs:
        _connect(env, monkeypatch)
    for key in (
        "CRMSYNC_API_BUDGET",
        "CRMSYNC_HUBSPOT_REQUESTS_PER_10S",
        "CRMSYNC_HUBSPOT_SEARCHES_PER_SECOND",
    ):
        monkeypatch.setenv(key, envs[0][key])
    shown = CliRunner().invoke(
        app, ["show", "hubspot"], env={"PREFECT_API_URL": prefect_api, "COLUMNS": "200"}
    )
    assert f"{REQUESTS_PER_10S} requests per 10 s" in shown.stdout
    assert "in force" in shown.stdout and "crmsync-budget-hubspot-127-0-0-1-" in shown.stdout

    sandbox.app.reset_counters()
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "crmsync", "sync", "hubspot", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    requests = list(sandbox.app.requests)
    searches = [t for t, label in requests if label.startswith("search")]
    times = [t for t, _ in requests]
    # More requests than one window allows: the budget had to spread them over several windows.
    timeline = [f"{t - times[0]:.1f} {label}" for t, label in requests]
    assert len(times) > REQUESTS_PER_10S, timeline
    assert _most_in_any_window(times, 10.0) <= REQUESTS_PER_10S, timeline
    assert len(searches) > SEARCHES_PER_SECOND
    assert _most_in_any_window(searches, 1.0) <= SEARCHES_PER_SECOND, timeline
    print("\n".join(timeline))  # with -s: how the two runs shared the account

    budget = budget_for("hubspot", f"hubspot {sandbox.url}")
    with get_client(sync_client=True) as client:
        for limit in budget.limits:
            on_server = client.read_global_concurrency_limit_by_name(budget.limit_name(limit))
            assert on_server.limit == limit.burst
            assert on_server.slot_decay_per_second == pytest.approx(limit.rate)


def test_budgets_apply_only_with_a_server_and_not_to_a_sandbox_unless_asked(monkeypatch):
    monkeypatch.delenv("CRMSYNC_API_BUDGET", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert not describe("hubspot", "hubspot https://api.hubapi.com")["in_force"]
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert describe("hubspot", "hubspot https://api.hubapi.com")["in_force"]
    assert not describe("hubspot", "hubspot http://127.0.0.1:8080")["in_force"]
    monkeypatch.setenv("CRMSYNC_API_BUDGET", "on")
    assert describe("salesforce", "salesforce https://localhost:8443")["in_force"]
    monkeypatch.setenv("CRMSYNC_API_BUDGET", "off")
    assert not describe("hubspot", "hubspot https://api.hubapi.com")["in_force"]
    monkeypatch.setenv("CRMSYNC_API_BUDGET", "on")
    monkeypatch.setenv("CRMSYNC_LOCAL_PREFECT_API", "1")  # crmsync sync's own temporary API
    assert not describe("hubspot", "hubspot https://api.hubapi.com")["in_force"]


def test_a_bucket_never_lets_more_than_the_limit_through_in_any_window(monkeypatch):
    monkeypatch.setenv("CRMSYNC_SALESFORCE_DAILY_REQUESTS", "100000")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_DAILY_SHARE", "0.25")
    for kind in ("hubspot", "salesforce"):
        for limit in budget_for(kind, f"{kind} https://example.com").limits:
            # A full bucket, plus all that refills while a window and a lease pass, fits the limit.
            assert limit.burst + limit.rate * (limit.window + limit.lease) <= limit.requests
            assert 1 <= limit.batch <= limit.burst
    [daily] = budget_for("salesforce", "salesforce https://example.com").limits
    assert daily.requests == 25_000
