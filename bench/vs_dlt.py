"""crmsync and dlt side by side: one HubSpot sandbox, the same pull, timed in the same run.

The sandbox (``bench.sandbox``) runs in a process of its own, seeded with ``BENCH_COMPANIES``
companies (12,000), ``BENCH_CONTACTS`` contacts (30,000, each associated with its company)
and ``BENCH_DEALS`` deals (4,000). Both tools run as their users would, as subprocesses:

* crmsync: ``crmsync connect hubspot``, each object's direction set to *pull* (the job dlt
  can do: no push step), then ``crmsync sync hubspot`` (full load into a fresh SQLite store;
  it starts Prefect's local API, which stays up for later commands), the same command again
  with nothing changed (the local API warm, as for any command after a session's first), and
  once more with ``CRMSYNC_LOCAL_API_IDLE=0`` (a local API started and stopped by the command:
  what a first command of a session costs with nothing to move), and a second full load into
  another fresh store with the local API already up (``full warm``: the pull without the
  server's start);
* dlt: ``bench/dlt_hubspot.py`` in ``bench/.venv-dlt`` (``rest_api`` on the v3 list endpoints,
  ``sqlalchemy`` destination on SQLite), full load, then a second run.

Phases alternate (crmsync full, dlt full, crmsync quiet, dlt second, crmsync quiet cold) so
both tools see the same background load, and each phase reports wall time, the CPU time of the
tool's processes (crmsync's includes the local API server's, read from ``/proc`` since it
outlives the command), the sandbox's CPU time, and the API calls the sandbox counted. Rows landed are
checked: every tool must land every company, contact and deal, and a company for every
contact and deal. ``BENCH_REPEAT`` (default 1) runs the whole comparison again with fresh
stores; the table then shows the median.
"""

# ruff: noqa: S603 - runs this repository's own commands

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.sandbox import ROOT, SandboxProcess

CRMSYNC = ROOT / ".venv" / "bin" / "crmsync"
DLT_PYTHON = ROOT / "bench" / ".venv-dlt" / "bin" / "python"
DLT_SCRIPT = ROOT / "bench" / "dlt_hubspot.py"
OBJECTS = ("companies", "contacts", "deals")
COUNTS = ("extracted", "created", "updated", "unchanged", "quarantined")


@dataclass
class Phase:
    tool: str
    phase: str
    wall: float
    cpu: float  # user + system of the tool's processes (and the children they waited for)
    sandbox_cpu: float
    calls: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)
    with_company: dict[str, int] = field(default_factory=dict)
    detail: dict = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(n for label, n in self.calls.items() if ":429" not in label and ":5xx" not in label)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, cpu, done.stdout


def _measure(sandbox: SandboxProcess, tool: str, phase: str, cmd: list[str], env: dict, cwd: Path) -> Phase:
    sandbox.reset()
    server_cpu, local_api = sandbox.cpu_seconds(), local_api_cpu(env)
    wall, cpu, out = _run(cmd, env, cwd)
    server_cpu = sandbox.cpu_seconds() - server_cpu
    cpu += local_api_cpu(env) - local_api  # not a child the command waited for: not in its rusage
    return Phase(tool, phase, wall, cpu, server_cpu, sandbox.counters(), detail={"out": out})


def _local_api_pid(env: dict) -> int | None:
    """The shared local Prefect API crmsync keeps under this PREFECT_HOME, if one is recorded."""
    record = Path(env.get("PREFECT_HOME", "")) / "crmsync-local-api.json"
    try:
        return int(json.loads(record.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def local_api_cpu(env: dict) -> float:
    """CPU seconds (user + system) the shared local API has used so far; 0 without one."""
    pid = _local_api_pid(env)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_local_api(env: dict) -> None:
    pid = _local_api_pid(env)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def crmsync_rows(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    with sqlite3.connect(db) as con:
        count = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        rows = {
            "companies": count("SELECT COUNT(*) FROM clients"),
            "contacts": count("SELECT COUNT(*) FROM contacts"),
            "deals": count("SELECT COUNT(*) FROM subscriptions"),
        }
        linked = {
            "contacts": count("SELECT COUNT(*) FROM contacts WHERE client_id IS NOT NULL"),
            "deals": count("SELECT COUNT(*) FROM subscriptions WHERE client_id IS NOT NULL"),
        }
    return rows, linked


@dataclass
class CrmsyncHome:
    """A fresh crmsync installation: its folder, its environment, and what setting it up cost."""

    home: Path
    env: dict[str, str]
    setup: Phase


def setup_crmsync(
    sandbox: SandboxProcess, work: Path, env: dict[str, str], store_url: str | None = None
) -> CrmsyncHome:
    """``crmsync connect hubspot`` and every object's direction set to pull, in a fresh store.

    The store is ``crmsync.db`` (SQLite) in the new home unless ``store_url`` names another,
    which must be empty.
    """
    home = work / "crmsync"
    home.mkdir(parents=True)
    env = {
        **env,
        **sandbox.env,
        "CRMSYNC_HOME": str(home / ".crmsync"),
        "CRMSYNC_DATABASE_URL": store_url or f"sqlite:///{home / 'crmsync.db'}",
    }
    setup_wall = setup_cpu = 0.0
    sandbox.reset()
    for args in (
        ["connect", "hubspot"],
        *(["direction", "hubspot", o, "pull"] for o in ("clients", "contacts", "subscriptions")),
    ):
        wall, cpu, _ = _run([str(CRMSYNC), *args], env, home)
        setup_wall += wall
        setup_cpu += cpu
    setup = Phase("crmsync", "setup", setup_wall, setup_cpu, 0.0, sandbox.counters())
    return CrmsyncHome(home, env, setup)


def crmsync_sync(sandbox: SandboxProcess, crmsync: CrmsyncHome, phase: str) -> Phase:
    cmd = [str(CRMSYNC), "sync", "hubspot", "--json"]
    result = _measure(sandbox, "crmsync", phase, cmd, crmsync.env, crmsync.home)
    result.rows, result.with_company = crmsync_rows(crmsync.home / "crmsync.db")
    counts = json.loads(result.detail.pop("out"))
    result.detail["objects"] = {o["external_object"]: {k: o[k] for k in COUNTS} for o in counts["objects"]}
    return result


def dlt_run(sandbox: SandboxProcess, work: Path, env: dict[str, str], phase: str) -> Phase:
    result = _measure(
        sandbox, "dlt", phase, [str(DLT_PYTHON), str(DLT_SCRIPT), str(work)], {**env, **sandbox.env}, work
    )
    out = json.loads(result.detail.pop("out").strip().splitlines()[-1])
    result.rows, result.with_company = out["rows"], out["with_company"]
    result.detail.update(seconds=out["seconds"], versions=out["versions"])
    return result


def round_env() -> dict[str, str]:
    """This environment less anything that would point a tool elsewhere (a Prefect server, a store)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "CRMSYNC_", "HUBSPOT_", "SALESFORCE_"))
    }
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def fresh_prefect_home(path: Path) -> Path:
    """A PREFECT_HOME of its own with a migrated, empty database, like a user's after first use.

    The machine's ~/.prefect is shared with every other Prefect process; a private one keeps
    their runs out of the measurement. Migrating a database takes ~10 s of CPU, so it is done
    once into ``bench/.prefect-template-<version>/`` (git-ignored) and copied from there.
    """
    version = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    template = ROOT / "bench" / f".prefect-template-{version}"
    if not (template / "prefect.db").exists():
        print(f"  creating the Prefect database template {template.name} (once a version)…", flush=True)
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(parents=True)
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "prefect"), "server", "database", "upgrade", "-y"],
            env={**round_env(), "PREFECT_HOME": str(template)},
            check=True,
            capture_output=True,
        )
    shutil.copytree(template, path, dirs_exist_ok=True)
    return path


def one_round(sandbox: SandboxProcess, sizes: dict[str, int], log) -> list[Phase]:
    work = Path(tempfile.mkdtemp(prefix="crmsync-vs-dlt-"))
    try:
        env = {**round_env(), "PREFECT_HOME": str(fresh_prefect_home(work / "prefect"))}
        (work / "dlt").mkdir()
        crmsync = setup_crmsync(sandbox, work, env)
        log(f"  crmsync setup (connect + 3 × direction): {crmsync.setup.wall:.1f} s")
        phases = [crmsync.setup]
        cold = CrmsyncHome(crmsync.home, {**crmsync.env, "CRMSYNC_LOCAL_API_IDLE": "0"}, crmsync.setup)
        steps = (
            ("crmsync", "full load", lambda: crmsync_sync(sandbox, crmsync, "full load")),
            ("dlt", "full load", lambda: dlt_run(sandbox, work / "dlt", env, "full load")),
            ("crmsync", "quiet run", lambda: crmsync_sync(sandbox, crmsync, "quiet run")),
            ("dlt", "quiet run", lambda: dlt_run(sandbox, work / "dlt", env, "quiet run")),
            ("crmsync", "quiet cold", lambda: crmsync_sync(sandbox, cold, "quiet cold")),
            (
                "crmsync",
                "full warm",
                lambda: crmsync_sync(sandbox, setup_crmsync(sandbox, work / "warm", env), "full warm"),
            ),
        )
        for tool, phase, step in steps:
            result = step()
            calls = result.total_calls
            log(f"  {tool:<8}{phase:<10}{result.wall:7.1f} s  {calls:4d} calls  rows {result.rows}")
            phases.append(result)
        check_rows(phases, sizes)
        return phases
    finally:
        stop_local_api(env)
        shutil.rmtree(work, ignore_errors=True)


def check_rows(phases: list[Phase], sizes: dict[str, int]) -> None:
    problems = []
    for p in phases:
        if p.phase == "setup":
            continue
        for obj in OBJECTS:
            if p.rows.get(obj) != sizes[obj]:
                problems.append(f"{p.tool} {p.phase}: {p.rows.get(obj)} {obj}, expected {sizes[obj]}")
        for obj in ("contacts", "deals"):
            if p.with_company.get(obj) != sizes[obj]:
                problems.append(f"{p.tool} {p.phase}: {p.with_company.get(obj)} {obj} with a company")
    if problems:
        raise SystemExit("rows landed do not match:\n  " + "\n  ".join(problems))


def _median(rounds: list[list[Phase]], tool: str, phase: str, attr: str) -> float:
    values = [getattr(p, attr) for r in rounds for p in r if p.tool == tool and p.phase == phase]
    return statistics.median(values)


def optimum_calls(tool: str, phase: str, sizes: dict[str, int]) -> int:
    """The fewest calls that can do the job with each tool's endpoints and page sizes.

    crmsync: search pages of 200, v4 association reads of 1,000 ids for each child object,
    one archive-list page per object for deletes; a quiet run needs one search page per object,
    one association read per child object (the 2-minute overlap re-reads a few records) and
    the three archive lists. dlt: list pages of 100 (with associations inline), every run.
    """
    if tool == "dlt":
        return sum(math.ceil(n / 100) for n in sizes.values())
    if phase in ("quiet run", "quiet cold"):
        return 3 + 2 + 3
    search = sum(math.ceil(n / 200) for n in sizes.values())
    associations = math.ceil(sizes["contacts"] / 1000) + math.ceil(sizes["deals"] / 1000)
    return search + associations + 3


def table(rounds: list[list[Phase]], sizes: dict[str, int]) -> str:
    first = {(p.tool, p.phase): p for p in rounds[0]}
    lines = [
        f"{'phase':<11}{'tool':<9}{'wall s':>8}{'CPU s':>8}{'sandbox CPU s':>15}{'API calls':>11}"
        f"{'optimum':>9}"
        f"{'companies':>11}{'contacts':>10}{'deals':>8}  calls by endpoint",
    ]
    for phase, dlt_phase in (
        ("full load", "full load"),
        ("full warm", "full load"),
        ("quiet run", "quiet run"),
        ("quiet cold", "quiet run"),
    ):
        for tool in ("crmsync", "dlt") if phase == dlt_phase else ("crmsync",):
            p = first[(tool, phase)]
            calls = ", ".join(f"{k} {v}" for k, v in sorted(p.calls.items()))
            lines.append(
                f"{phase:<11}{tool:<9}{_median(rounds, tool, phase, 'wall'):>8.1f}"
                f"{_median(rounds, tool, phase, 'cpu'):>8.1f}"
                f"{_median(rounds, tool, phase, 'sandbox_cpu'):>15.1f}"
                f"{p.total_calls:>11}{optimum_calls(tool, phase, sizes):>9}"
                f"{p.rows['companies']:>11,}{p.rows['contacts']:>10,}{p.rows['deals']:>8,}"
                f"  {calls}"
            )

        def ratio(attr: str, phase: str = phase, dlt_phase: str = dlt_phase) -> float:
            return _median(rounds, "crmsync", phase, attr) / _median(rounds, "dlt", dlt_phase, attr)

        calls_ratio = first[("crmsync", phase)].total_calls / first[("dlt", dlt_phase)].total_calls
        lines.append(
            f"{phase:<11}{'ratio':<9}{ratio('wall'):>7.2f}×{ratio('cpu'):>7.2f}×{'':>15}{calls_ratio:>10.2f}×{'':>9}"
            f"   (crmsync / dlt's {dlt_phase})"
        )
    setup = first[("crmsync", "setup")]
    lines.append(
        f"crmsync setup, not in the table: connect + 3 × direction = {setup.wall:.1f} s wall, "
        f"{setup.total_calls} API call(s)"
    )
    return "\n".join(lines)


def main(log=print) -> list[list[Phase]]:
    sizes = {
        "companies": int(os.environ.get("BENCH_COMPANIES", "12000")),
        "contacts": int(os.environ.get("BENCH_CONTACTS", "30000")),
        "deals": int(os.environ.get("BENCH_DEALS", "4000")),
    }
    repeat = int(os.environ.get("BENCH_REPEAT", "1"))
    if not DLT_PYTHON.exists():
        raise SystemExit("dlt's environment is missing: run `make bench` (it creates bench/.venv-dlt)")
    started = time.perf_counter()
    with SandboxProcess(sizes["companies"], sizes["contacts"], sizes["deals"]) as sandbox:
        log(
            f"crmsync vs dlt: HubSpot sandbox (pid {sandbox.pid}, its own process) seeded with "
            f"{sizes['companies']:,} companies, {sizes['contacts']:,} contacts, {sizes['deals']:,} deals "
            f"in {sandbox.seed_seconds:.1f} s"
        )
        rounds = []
        for i in range(repeat):
            if repeat > 1:
                log(f" round {i + 1}/{repeat}")
            rounds.append(one_round(sandbox, sizes, log))
    log(table(rounds, sizes))
    log(f"(side by side in {time.perf_counter() - started:.0f} s; median of {repeat} round(s))")
    out = os.environ.get("BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps([[asdict(p) for p in r] for r in rounds], indent=1))
    return rounds


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
