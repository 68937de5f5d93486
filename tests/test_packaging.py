"""What gets installed is what runs: the wheel alone carries everything the CLI needs.

Here: the wheel's contents, where a checkout finds its mappings and suites, and the sandbox
extra. tests/flows/test_installed_wheel.py installs the wheel into a fresh virtual environment
and runs it outside the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from crmsync.config import PROJECT_ROOT

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DATA = {"mappings": "*.yaml", "expectations": "*.json"}  # checkout folder -> crmsync/_defaults/


def uv() -> str:
    """The project's pinned uv (``make install`` puts it in .tools/bin), else one on PATH."""
    pinned = ROOT / ".tools" / "bin" / "uv"
    found = str(pinned) if pinned.is_file() else shutil.which("uv")
    if not found:
        pytest.fail("no uv: run `make install` first (it puts a pinned uv in .tools/bin)", pytrace=False)
    return found


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; a non-zero exit fails the test with its output."""
    args = [str(arg) for arg in command]
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout, built as a release would be (``uv build --wheel``)."""
    run(uv(), "build", "--wheel", "--quiet", "--python", sys.executable, "--out-dir", out, ROOT)
    [built] = out.glob("crmsync-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def _dist_info(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    return f"{name}-{version}.dist-info"


def test_wheel_carries_the_flows_tasks_and_default_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("crmsync", "flows", "tasks"):
        for path in (ROOT / package).rglob("*.py"):
            assert path.relative_to(ROOT).as_posix() in names
    with zipfile.ZipFile(wheel) as archive:
        for folder, pattern in SHIPPED_DATA.items():
            files = sorted((ROOT / folder).glob(pattern))
            assert files
            for path in files:
                shipped = archive.read(f"crmsync/_defaults/{folder}/{path.name}")
                assert shipped == path.read_bytes(), f"{path.name}: the wheel's copy differs"
    assert not {name.split("/")[0] for name in names} - {"crmsync", "flows", "tasks", _dist_info(wheel)}
    metadata = zipfile.ZipFile(wheel).read(f"{_dist_info(wheel)}/METADATA").decode()
    assert "Requires-Dist: trustme>=1.2; extra == 'sandbox'" in metadata


def test_checkout_reads_its_own_mappings_and_expectations():
    from crmsync import config

    assert config.FROM_SOURCE
    assert config.default_mappings_dir() == ROOT / "mappings"
    assert config.expectations_dir() == ROOT / "expectations"


def test_prefect_entrypoints_are_files_under_the_project_root():
    """prefect.yaml and ``crmsync deploy`` name the flows by path from PROJECT_ROOT."""
    from crmsync.deploy import ENTRYPOINTS

    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    entrypoints = {d["entrypoint"] for d in deployments}
    assert entrypoints == set(ENTRYPOINTS.values())
    for entrypoint in entrypoints:
        assert (PROJECT_ROOT / entrypoint.partition(":")[0]).is_file()


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_sandbox_commands_name_the_extra_when_trustme_is_missing(command, crmsync_home):
    hide_trustme = (
        "import sys\n"
        "sys.modules['trustme'] = None\n"
        f"sys.argv = ['crmsync', {command!r}]\n"
        "from crmsync.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_trustme], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the sandbox CRMs need the 'sandbox' extra: pip install 'crmsync[sandbox]'"
    ]
    assert not (crmsync_home / ".crmsync-demo").exists()
