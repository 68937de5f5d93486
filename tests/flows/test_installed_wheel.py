"""What gets installed is what runs: the wheel, installed alone, syncs from outside the checkout.

The wheel is built from this checkout and installed with its ``sandbox`` extra into a fresh
virtual environment (the lock's versions, from uv's cache). Its ``crmsync`` then runs in a folder
outside the checkout with nothing of the checkout on its path: the CLI, the flows and tasks, the
default mappings and the expectation suites all come from the wheel. The flow runs report to the
session's Prefect test server, as tests/flows/test_sync.py's subprocesses do.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from crmsync.sandbox.hubspot import DEFAULT_TOKEN
from tests.test_packaging import ROOT, build_wheel, run, uv

# Variables of the test process that must not reach the installed crmsync.
LEAKY_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "CONDA_", "CRMSYNC_", "PREFECT_", "HUBSPOT_", "SALESFORCE_", "UV_")


def _install(tmp_path: Path) -> Path:
    """A fresh virtual environment with the wheel and its sandbox extra; its python."""
    build_env = {**os.environ, "UV_COMPILE_BYTECODE": "0", "UV_PYTHON_DOWNLOADS": "never"}
    wheel = build_wheel(tmp_path / "dist")
    constraints = tmp_path / "constraints.txt"
    run(
        *(uv(), "export", "--frozen", "--all-extras", "--no-dev", "--no-emit-project", "--no-hashes"),
        *("--quiet", "--output-file", constraints),
        cwd=ROOT,
        env=build_env,
    )
    venv = tmp_path / "venv"
    run(uv(), "venv", "--quiet", "--python", sys.executable, venv, env=build_env)
    python = venv / "bin" / "python"
    run(
        *(uv(), "pip", "install", "--quiet", "--python", python, "--constraints", constraints),
        f"{wheel}[sandbox]",
        env=build_env,
    )
    return python


@pytest.mark.slow
def test_installed_wheel_syncs_outside_the_checkout(tmp_path, prefect_api, hubspot_sandbox_factory):
    python = _install(tmp_path)
    sandbox = hubspot_sandbox_factory(companies=30, contacts=60, deals=30)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(LEAKY_PREFIXES)}
    env |= {
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CRMSYNC_HOME": str(tmp_path / "home"),
        "CRMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'crmsync.db'}",
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "HUBSPOT_BASE_URL": sandbox.url,
        "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN,
        "COLUMNS": "200",
    }

    def installed(*args: str | Path, timeout: float = 120):
        return run(*args, cwd=elsewhere, env=env, timeout=timeout)

    # The code and the data come from the virtual environment, none from the checkout; the
    # deployments' entrypoints (flows/sync.py:…) resolve from the installed PROJECT_ROOT.
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    entrypoint_files = sorted({d["entrypoint"].partition(":")[0] for d in deployments})
    probe = (
        "import json, sysconfig, crmsync, flows, tasks\n"
        "from crmsync import config\n"
        "print(json.dumps({'modules': [crmsync.__file__, flows.__file__, tasks.__file__],\n"
        "  'site': sysconfig.get_path('purelib'),\n"
        "  'from_source': config.FROM_SOURCE,\n"
        "  'mappings': sorted(p.name for p in config.default_mappings_dir().glob('*.yaml')),\n"
        "  'expectations': sorted(p.name for p in config.expectations_dir().glob('*.json')),\n"
        f"  'entrypoints': [(config.PROJECT_ROOT / f).is_file() for f in {entrypoint_files!r}]}}))\n"
    )
    seen = json.loads(installed(python, "-c", probe).stdout)
    site = Path(seen["site"])
    assert all(Path(module).is_relative_to(site) for module in seen["modules"]), seen
    assert seen["from_source"] is False
    assert seen["mappings"] == sorted(p.name for p in (ROOT / "mappings").glob("*.yaml"))
    assert seen["expectations"] == sorted(p.name for p in (ROOT / "expectations").glob("*.json"))
    assert all(seen["entrypoints"]), entrypoint_files

    assert "mappings" in installed("crmsync", "--help").stdout
    checked = json.loads(installed("crmsync", "mappings", "check", "--json").stdout)
    assert checked and all(row["ok"] and Path(row["file"]).is_relative_to(site) for row in checked), checked

    installed("crmsync", "connect", "hubspot")
    result = json.loads(installed("crmsync", "sync", "hubspot", "--json", timeout=240).stdout)
    assert result["status"] == "completed", result
    pulled = {row["object"]: row["extracted"] for row in result["objects"]}
    assert set(pulled) == {"clients", "contacts", "subscriptions"}, result
    assert pulled["clients"] == 30 and all(pulled.values()), result
