"""Where crmsync's time goes: ``make bench-full`` (after ``make bench``).

Against one HubSpot sandbox in its own process (the ``bench.vs_dlt`` sizes), with a fresh
store set to pull, it records with py-spy (``--subprocesses --threads --idle``, raw stacks):

  (a) the full load, ``crmsync sync hubspot``, with Prefect's ephemeral API;
  (b) a quiet run (nothing changed), same command, ephemeral API;
  (c) a quiet run against a running ``prefect server start`` (``PREFECT_API_URL`` set).

The CLI process's main thread is sampled idle or not, so its samples add up to the run's
wall time; each sample is put in one bucket (``classify``) and the buckets are printed with
seconds and % of wall time. Then plain timers: import times of each heavy package in a fresh
process and ``-X importtime`` of what the CLI imports, Prefect's per-task-run overhead (a
flow of no-op tasks), the number of task runs of each phase (from Prefect's database), GX
validation of one chunk, and the HubSpot SDK's per-model cost.

``BENCH_PROFILE_DIR`` keeps the raw profiles (default: a temporary folder, removed).
"""

# ruff: noqa: S603, S310 - runs this repository's own commands; loopback URLs only

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.sandbox import ROOT, SandboxProcess
from bench.vs_dlt import CRMSYNC, setup_crmsync

PYTHON = ROOT / ".venv" / "bin" / "python"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
PREFECT = ROOT / ".venv" / "bin" / "prefect"
RATE = 50  # samples a second
IMPORT_FRAMES = ("_find_and_load (<frozen importlib._bootstrap>)",)
OWN_CODE = ("crmsync/", "flows/", "tasks/", "bench/", "<frozen", "importlib/", "<string>", "runpy")
OWN_TOP = ("crmsync", "flows", "tasks", "bench")


# --- classifying samples ----------------------------------------------------------------------
def _file(frame: str) -> str:
    return frame.rsplit(" (", 1)[-1].rstrip(")")


def _package(frame: str) -> str:
    return _file(frame).split("/", 1)[0].removesuffix(".py")


def _import_owner(frames: list[str]) -> str:
    """Who an import is for: the outermost third-party module being executed, else our own."""
    modules = [f for f in frames if f.startswith("<module> (") and "/" in _file(f)]  # not the script
    for frame in modules:
        if not _file(frame).startswith(OWN_CODE):
            if _package(frame) == "prefect" and any(_file(f).startswith("prefect/server/") for f in modules):
                return "prefect.server (the ephemeral API's code, in the CLI process)"
            return _package(frame)
    return f"{_package(modules[-1])} (own modules)" if modules else "?"


def _libs(frames: list[str]) -> set[str]:
    return {_package(f) for f in frames}


def _work(frames: list[str], where: str) -> tuple[str, str]:
    """Code run by a task or a flow body: by the library doing the work."""
    joined = ";".join(frames)
    libs = _libs(frames)
    if "great_expectations" in libs or "validation.py" in joined:
        return "GX validation (run, not import)", where
    if "hubspot" in libs:
        if "Configuration.get_default_copy" in joined:
            return "HubSpot SDK: Configuration.get_default_copy() per model", where
        if "getresponse" in joined or "_make_request" in joined or "SyncStream.read" in joined:
            return "HubSpot API round-trips (waiting for the sandbox)", where
        return "HubSpot SDK: other (serialise, deserialise models)", where
    if "urllib3" in libs or "http" in libs:
        return "HubSpot API round-trips (waiting for the sandbox)", where
    if libs & {"sqlalchemy", "sqlmodel", "sqlite3", "alembic"}:
        return "store: SQLAlchemy + SQLite", where
    if libs & {"pandas", "numpy"}:
        return "pandas", where
    if "json" in libs:
        return "JSON parse of search pages", where
    return "crmsync Python (other)", where


ENGINE = {
    "SyncTaskRunEngine.call_task_fn (prefect/task_engine.py)": "task body",
    "run_task_sync (prefect/task_engine.py)": "task engine",
    "FlowRunEngine.call_flow_fn (prefect/flow_engine.py)": "flow body",
    "run_flow_sync (prefect/flow_engine.py)": "flow engine",
}


def classify(frames: list[str]) -> tuple[str, str]:
    """One main-thread sample -> (bucket, detail)."""
    joined = ";".join(frames)
    if "SubprocessASGIServer.start" in joined:
        if any(f in IMPORT_FRAMES for f in frames):
            return "Prefect ephemeral API start", "import prefect.server in the CLI process"
        return "Prefect ephemeral API start", "wait for the server subprocess to answer"
    if any(f in IMPORT_FRAMES for f in frames):
        return f"import {_import_owner(frames)}", ""
    innermost, at = None, -1
    for i, frame in enumerate(frames):
        if frame in ENGINE:
            innermost, at = ENGINE[frame], i
    api = "PrefectHttpxSyncClient" in joined or "prefect/client/orchestration" in joined
    if innermost in ("task body", "flow body"):
        rest = frames[at + 1 :]
        own = [f for f in rest if _file(f).startswith(("tasks/", "crmsync/", "flows/"))]
        if not own:  # the engine's own work inside call_*_fn (result and state handling)
            innermost = "task engine" if innermost == "task body" else "flow engine"
        elif api:
            return "Prefect API calls made by crmsync code (artifacts)", own[-1].split(" (")[0]
        elif innermost == "task body":
            return _work(rest, f"task {own[0].split(' (')[0]}")
        else:
            return _work(rest, "flow body, outside tasks")
    if innermost == "task engine":
        return "Prefect task-run overhead", "API call" if api else "in process"
    if innermost == "flow engine":
        if "_send_heartbeats" in joined and "join" in joined:
            detail = "join the heartbeat thread (it sleeps in 1 s steps)"
        else:
            detail = "API call" if api else "in process"
        return "Prefect flow-run overhead (API calls, state, logs)", detail
    if "sqlalchemy" in _libs(frames) or "alembic" in _libs(frames):
        return "store: open + migrations check", ""
    if "Logger.setLevel" in joined or "logging" in _libs(frames):
        return "CLI: logging set-up", ""
    if not frames:
        return "interpreter start-up and exit (no Python frame)", ""
    return "CLI (other)", frames[-1].split(" (")[0]


IDLE = {
    "wait",
    "_wait_for_tstate_lock",
    "select",
    "poll",
    "sleep",
    "accept",
    "recv_into",
    "readinto",
    "_recv",
    "get",
    "_connection_worker_thread",
    "_worker",
    "heartbeat_loop",
    "run_forever",
}


def _idle(leaf: str) -> bool:
    """Heuristic: a thread whose innermost frame is one of these is waiting, not computing."""
    return leaf.split(" (")[0].rsplit(".", 1)[-1] in IDLE


def analyse(raw: Path) -> dict:
    """Buckets of the CLI main thread (wall) and active samples of every other thread."""
    buckets: collections.Counter[tuple[str, str]] = collections.Counter()
    other: collections.Counter[str] = collections.Counter()
    hot: collections.Counter[str] = collections.Counter()
    main_total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parts, n = stack.split(";"), int(count)
        procs = [p for p in parts if p.startswith("process ")]
        thread = next((p for p in parts if p.startswith("thread ")), "")
        frames = [p for p in parts if not p.startswith(("process ", "thread "))]
        # The CLI is the process py-spy started (one "process" frame; children nest theirs);
        # its main thread has the process id. (py-spy does not always read names or command lines.)
        pid = procs[0].split(":", 1)[0].removeprefix("process ") if procs else None
        if len(procs) == 1 and thread.startswith(f"thread ({pid})"):
            main_total += n
            buckets[classify(frames)] += n
            for f in set(frames):
                hot[f] += n
        elif frames and not _idle(frames[-1]):
            who = "CLI, other threads" if len(procs) == 1 else "Prefect API server subprocess"
            other[who] += n
    return {
        "wall": main_total / RATE,
        "buckets": {f"{k[0]}|{k[1]}": v / RATE for k, v in buckets.most_common()},
        "other_threads_active": {k: v / RATE for k, v in other.items()},
        "hot": {k: v / RATE for k, v in hot.most_common(60)},
    }


def print_breakdown(title: str, result: dict, task_runs: int | None) -> None:
    wall = result["wall"]
    print(f"\n{title}: {wall:.1f} s of CLI main-thread wall time sampled")
    totals: collections.Counter[str] = collections.Counter()
    details: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for key, seconds in result["buckets"].items():
        bucket, detail = key.split("|", 1)
        totals[bucket] += seconds
        if detail:
            details[bucket][detail] += seconds
    for bucket, seconds in totals.most_common():
        if seconds < 0.1:
            continue
        print(f"  {seconds:6.1f} s {100 * seconds / wall:5.1f} %  {bucket}")
        for detail, s in details[bucket].most_common(4):
            if s >= 0.1:
                print(f"  {'':>16}{s:6.1f} s  {detail}")
    for who, seconds in result["other_threads_active"].items():
        print(f"  (not in the wall time above: {who} active {seconds:.1f} s)")
    if task_runs:
        print(f"  task runs: {task_runs}")


# --- running the phases -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _task_runs(prefect_home: Path) -> int:
    with sqlite3.connect(prefect_home / "prefect.db") as con:
        return con.execute("SELECT COUNT(*) FROM task_run").fetchone()[0]


def record(name: str, env: dict, cwd: Path, out: Path) -> tuple[float, Path]:
    raw = out / f"{name}.raw"
    cmd = [str(PY_SPY), "record", "--subprocesses", "--threads", "--idle", "--nolineno"]
    cmd += ["-r", str(RATE), "-f", "raw", "-o", str(raw), "--", str(CRMSYNC), "sync", "hubspot", "--json"]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"py-spy {name} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, raw


def timed_sync(env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    cmd = [str(CRMSYNC), "sync", "hubspot", "--json"]
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def start_server(env: dict) -> tuple[subprocess.Popen, str, float]:
    port = _free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return server, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("prefect server start did not answer within 180 s")


# --- plain timers -----------------------------------------------------------------------------
SNIPPET_TASK_RUNS = """
import time
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

@task(cache_policy=NO_CACHE)
def noop(x):
    return None

@flow
def many(n):
    noop(quote(0))  # the first task run pays one-off set-up
    t = time.perf_counter()
    for i in range(n):
        noop(quote(i))
    return (time.perf_counter() - t) / n

t = time.perf_counter()
per = many(N)
print(per, time.perf_counter() - t)
"""

SNIPPET_SDK = """
import time
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest as Batch,
    PublicFetchAssociationsBatchRequest as Request,
)
from hubspot.crm.associations.v4.configuration import Configuration
n = 2000
t = time.perf_counter()
body = Batch(inputs=[Request(id=str(i)) for i in range(n)])
model = (time.perf_counter() - t) / n
t = time.perf_counter()
for _ in range(n):
    Configuration.get_default_copy()
config = (time.perf_counter() - t) / n
print(model, config)
"""

SNIPPET_GX = """
import time, pandas as pd
from crmsync import validation
frame = pd.DataFrame({
    "name": [f"Company {i}" for i in range(2000)],
    "domain": [f"c{i}.example.com" for i in range(2000)],
    "status": ["Active"] * 2000,
    "industry": ["Software"] * 2000,
    "employees": list(range(2000)),
    "annual_revenue": [1000.0 + i for i in range(2000)],
    "phone": ["+1-555-000-0000"] * 2000,
})
t = time.perf_counter(); validation.validate(frame, "clients", "pull"); first = time.perf_counter() - t
runs = []
for _ in range(3):
    t = time.perf_counter()
    validation.validate(frame, "clients", "pull")
    runs.append(time.perf_counter() - t)
print(first, min(runs))
"""

PACKAGES = ("prefect", "pandas", "great_expectations", "hubspot", "sqlalchemy", "sqlmodel", "flows.sync")


def import_seconds(env: dict) -> dict[str, float]:
    """Each package alone in a fresh interpreter (best of two), wall time of the import."""
    out = {}
    for name in PACKAGES:
        best = float("inf")
        for _ in range(2):
            code = f"import time; t = time.perf_counter(); import {name}; print(time.perf_counter() - t)"
            cmd = [str(PYTHON), "-c", code]
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            best = min(best, float(done.stdout.strip().splitlines()[-1]))
        out[name] = best
    return out


def importtime_tree(env: dict, statement: str) -> dict[str, float]:
    """``-X importtime``: cumulative seconds of each top-level package where it is first imported."""
    done = subprocess.run(
        [str(PYTHON), "-X", "importtime", "-c", statement], env=env, cwd=ROOT, capture_output=True, text=True
    )
    seen: dict[str, float] = {}
    total = 0.0
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        self_us, cumulative, indent, module = int(m[1]), int(m[2]), len(m[3]), m[4]
        total += self_us / 1e6
        top = module.split(".")[0]
        if indent == 1 or (top not in seen and module == top):
            seen[top] = max(seen.get(top, 0.0), cumulative / 1e6)
    seen["(total)"] = total
    return dict(sorted(seen.items(), key=lambda kv: -kv[1])[:15])


def snippet(code: str, env: dict) -> list[float]:
    done = subprocess.run([str(PYTHON), "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return [float(x) for x in done.stdout.split()]


# --- main -------------------------------------------------------------------------------------
def main() -> None:
    if not PY_SPY.exists():
        raise SystemExit("py-spy is missing: run `make bench-full`")
    sizes = (
        int(os.environ.get("BENCH_COMPANIES", "12000")),
        int(os.environ.get("BENCH_CONTACTS", "30000")),
        int(os.environ.get("BENCH_DEALS", "4000")),
    )
    keep = os.environ.get("BENCH_PROFILE_DIR")
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="crmsync-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    from bench.vs_dlt import fresh_prefect_home, round_env

    env = {**round_env(), "CRMSYNC_LOCAL_API_IDLE": "0"}  # (a), (b): a server per command, as measured
    results: dict = {}
    try:
        with SandboxProcess(*sizes) as sandbox:
            prefect_home = fresh_prefect_home(work / "prefect-ephemeral")
            crmsync = setup_crmsync(sandbox, work / "store", {**env, "PREFECT_HOME": str(prefect_home)})
            print(f"profiling crmsync against {sizes[0]:,} / {sizes[1]:,} / {sizes[2]:,}; files in {work}")
            phases = {}
            for name in ("full", "quiet"):
                sandbox.reset()
                before = _task_runs(prefect_home)
                wall, raw = record(name, crmsync.env, crmsync.home, work)
                runs, calls = _task_runs(prefect_home) - before, sum(sandbox.counters().values())
                phases[name] = (wall, raw, runs, calls)
                print(f"  {name}: {wall:.1f} s under py-spy, {runs} task runs, {calls} API calls")
            unprofiled_quiet = timed_sync(crmsync.env, crmsync.home)
            print(f"  quiet run again without py-spy (ephemeral API): {unprofiled_quiet:.1f} s")

            server_home = fresh_prefect_home(work / "prefect-server")
            server_env = {**crmsync.env, "PREFECT_HOME": str(server_home)}
            server, url, server_start = start_server(server_env)
            try:
                server_env["PREFECT_API_URL"] = url
                print(f"  prefect server start: answering after {server_start:.1f} s")
                timed_sync(server_env, crmsync.home)  # the server's first flow run registers the flows
                wall, raw = record("quiet-server", server_env, crmsync.home, work)
                phases["quiet-server"] = (wall, raw, None, None)
                server_quiet = timed_sync(server_env, crmsync.home)
                print(f"  quiet run with a server: {wall:.1f} s under py-spy, {server_quiet:.1f} s without")
            finally:
                server.terminate()
                server.wait(timeout=30)
        titles = {
            "full": "(a) full load, ephemeral Prefect API",
            "quiet": "(b) quiet run, ephemeral Prefect API",
            "quiet-server": "(c) quiet run, running Prefect server (PREFECT_API_URL)",
        }
        for name, (wall, raw, task_runs, calls) in phases.items():
            result = analyse(raw)
            result.update(task_runs=task_runs, api_calls=calls, wall_under_py_spy=wall)
            results[name] = result
            print_breakdown(titles[name], result, task_runs)
        results["quiet_unprofiled"] = unprofiled_quiet
        results["quiet_server_unprofiled"] = server_quiet
        results["server_start"] = server_start

        plain_env = {**env, "PREFECT_HOME": str(fresh_prefect_home(work / "prefect-timers"))}
        print("\nimport, each package alone in a fresh interpreter (best of 2):")
        results["imports"] = import_seconds(plain_env)
        for name, seconds in results["imports"].items():
            print(f"  {seconds:6.2f} s  import {name}")
        statement = "import crmsync.cli, flows.sync, crmsync.validation, pandas, great_expectations, hubspot"
        results["importtime"] = importtime_tree(plain_env, statement)
        print(f"-X importtime of `{statement}` (cumulative, where first imported):")
        for name, seconds in results["importtime"].items():
            print(f"  {seconds:6.2f} s  {name}")

        per_task, flow_total = snippet(SNIPPET_TASK_RUNS.replace("many(N)", "many(200)"), plain_env)
        results["task_run"] = {"per_task_run": per_task, "flow_with_200_tasks": flow_total}
        print(
            f"\nPrefect task run (no-op task, ephemeral API): {1000 * per_task:.1f} ms each "
            f"(a flow of 201 no-op tasks: {flow_total:.1f} s including the API start)"
        )
        model, config = snippet(SNIPPET_SDK, plain_env)
        results["sdk"] = {"model": model, "Configuration.get_default_copy": config}
        print(
            f"HubSpot SDK: PublicFetchAssociationsBatchRequest(id=...) {1e6 * model:.0f} µs each, "
            f"Configuration.get_default_copy() {1e6 * config:.0f} µs each"
        )
        first, again = snippet(SNIPPET_GX, plain_env)
        results["gx"] = {"first_chunk_with_import": first, "chunk": again}
        print(
            f"GX validation of a 2,000-row clients chunk: {again:.2f} s each ({first:.1f} s for the "
            "first, with GX's import and context)"
        )
        out = os.environ.get("BENCH_JSON_PROFILE")
        if out:
            Path(out).write_text(json.dumps(results, indent=1))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
