"""Target 5 of issue 8: ``crmsync sync hubspot`` pulls of 10k, 100k and 1M records, RSS and time per 10k.

For each size (``BENCH_SCALE_SIZES``, default ``10000,100000,1000000``) a HubSpot sandbox in a
process of its own (``bench.sandbox``) is seeded with that many companies and nothing else, a
fresh crmsync home is set up as ``bench.vs_dlt`` does (``connect``, directions set to *pull*,
a migrated Prefect database of its own), and ``crmsync sync hubspot clients --json`` runs as a
user would run it: a subprocess with Prefect's ephemeral API, into a fresh store: SQLite by
default, or with ``BENCH_SCALE_STORE=postgresql`` a throw-away PostgreSQL database per size
(``crmsync_bench_scale_<pid>_<size>`` on ``BENCH_POSTGRES_URL``, default the local server with
trust auth), dropped afterwards.

While it runs, every ``SAMPLE_EVERY`` seconds, this process records:

* the RSS of the crmsync process and of its whole process tree (the ephemeral Prefect server
  is a child), from ``/proc`` (``VmRSS``; the crmsync process's own ``VmHWM`` is its exact peak);
* the records read from the API: the sandbox's search-page counter × 200 (HubSpot's page size),
  capped at the size; the 10,000-result search restarts make this a slight overestimate;
* the records committed: ``MAX(rowid)`` of the store's ``clients`` table, read-only, never
  waiting for a lock (a chunk commits its rows with its cursor in one transaction); on
  PostgreSQL ``max(id)`` over a short-lived connection with a 1 s statement timeout (a fresh
  pull only inserts, so the ids run 1…n without gaps; the end of each run checks it).

Time per 10k records is the time between successive commits, per 10,000 records committed;
the first interval starts at the first sample that sees an API call, so start-up (imports,
Prefect's ephemeral API) is reported apart as ``startup``. RSS per 10k records is the tree's
peak RSS within each commit interval. Two PNGs (time per 10k and RSS against records
processed, all sizes overlaid) go to ``BENCH_PLOT_DIR`` (default ``docs/``), named
``bench-scale-*.png`` for SQLite and ``bench-scale-pg-*.png`` for PostgreSQL; results as JSON
to ``BENCH_JSON_SCALE`` if set. Needs matplotlib for the plots (``make bench-full`` installs
the ``bench`` dependency group); without it the tables still print.
"""

# ruff: noqa: S603, S608 - runs this repository's own commands; SQL names are constants

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench.sandbox import ROOT, SandboxProcess
from bench.vs_dlt import CRMSYNC, fresh_prefect_home, round_env, setup_crmsync

SAMPLE_EVERY = 0.2  # seconds between samples
PAGE_SIZE = 200  # HubSpot search page size (crmsync's connector asks for the maximum)
PER = 10_000  # "per 10k records"
MIB = 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TABLE = "clients"  # companies are pulled into ClientSuccess clients
SEARCH = "search:companies"
STORES = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PLOT_PREFIX = {"sqlite": "bench-scale", "postgresql": "bench-scale-pg"}


@dataclass
class Sample:
    t: float  # seconds since the sync command started
    rss_tree: int  # bytes, crmsync process and every descendant
    rss_main: int  # bytes, the crmsync process alone
    read: int  # records read from the API (search pages × 200, capped)
    committed: int  # records committed to the store
    cpu_main: float = 0.0  # CPU seconds (user + system) of the crmsync process so far


@dataclass
class ScaleRun:
    size: int
    seed_seconds: float
    sandbox_rss_mib: float
    setup_seconds: float
    wall: float
    startup: float  # command start to the first API call seen
    peak_rss_tree_mib: float
    peak_rss_main_mib: float  # VmHWM of the crmsync process
    api_calls: int
    sandbox_cpu: float
    rows: int
    counts: dict
    samples: list[Sample] = field(default_factory=list)
    per_10k: list[dict] = field(default_factory=list)  # {records, seconds, rss_mib} per commit interval
    store: str = "sqlite"  # or "postgresql"

    def summary(self) -> dict:
        """Time per 10k records: median, first and last tenth of the run (drift), and RSS growth."""
        seconds = [p["seconds"] for p in self.per_10k]
        tenth = max(1, len(seconds) // 10)
        rss = [p["rss_mib"] for p in self.per_10k]
        cpu = [p.get("cpu_seconds", float("nan")) for p in self.per_10k]
        return {
            "per_10k_cpu_median_s": statistics.median(cpu) if cpu else float("nan"),
            "per_10k_median_s": statistics.median(seconds) if seconds else float("nan"),
            "per_10k_first_tenth_s": statistics.median(seconds[:tenth]) if seconds else float("nan"),
            "per_10k_last_tenth_s": statistics.median(seconds[-tenth:]) if seconds else float("nan"),
            "per_10k_max_s": max(seconds, default=float("nan")),
            "rss_first_tenth_mib": statistics.median(rss[:tenth]) if rss else float("nan"),
            "rss_last_tenth_mib": statistics.median(rss[-tenth:]) if rss else float("nan"),
            "records_per_s": self.size / max(self.wall - self.startup, 1e-9),
        }


# --- sampling ----------------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of one process in bytes (empty if it is gone)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


def tree_rss(pid: int) -> tuple[int, int, int]:
    """(RSS of the tree rooted at ``pid``, RSS of ``pid``, peak RSS of ``pid``), in bytes."""
    main = _status(pid)
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _status(p).get("VmRSS", 0) if p != pid else main.get("VmRSS", 0)
        todo += _children(p)
    return total, main.get("VmRSS", 0), main.get("VmHWM", 0)


class Committed:
    """Records committed so far: the table's largest rowid, read-only, never waiting for a lock."""

    def __init__(self, url: str) -> None:
        self.url, self.last = sa.make_url(url), 0

    def __call__(self) -> int:
        if self.url.get_backend_name() == "postgresql":
            return self._postgresql()
        try:
            con = sqlite3.connect(f"file:{self.url.database}?mode=ro", uri=True, timeout=0)
            try:
                self.last = con.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {TABLE}").fetchone()[0]
            finally:
                con.close()
        except sqlite3.OperationalError:
            pass  # locked by a commit in progress: keep the last value
        return self.last

    def _postgresql(self) -> int:
        """``max(id)`` on a connection of its own, closed at once; a read never waits on row locks."""
        import psycopg

        url = self.url
        try:
            with psycopg.connect(
                host=url.host,
                port=url.port,
                user=url.username,
                password=url.password,
                dbname=url.database,
                connect_timeout=2,
                autocommit=True,
                options="-c statement_timeout=1000 -c lock_timeout=200",
            ) as con:
                self.last = con.execute(f"SELECT COALESCE(max(id), 0) FROM {TABLE}").fetchone()[0]
        except psycopg.Error:
            pass  # no table yet (migrations run first) or a timeout: keep the last value
        return self.last


@contextmanager
def fresh_store(kind: str, work: Path, size: int) -> Iterator[str]:
    """The URL of an empty store: SQLite in the crmsync home, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'crmsync' / 'crmsync.db'}"
        return
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"crmsync_bench_scale_{os.getpid()}_{size}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def store_rows(url: str) -> tuple[int, int]:
    """(rows, largest id) of the store's ``clients`` table."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(sa.text(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {TABLE}")).one())
    finally:
        engine.dispose()


def sample_run(proc: subprocess.Popen, sandbox: SandboxProcess, url: str, size: int, started: float):
    """Sample the running sync until it exits; returns the samples and its peak RSS (VmHWM)."""
    committed, samples, hwm = Committed(url), [], 0
    while True:
        done = proc.poll() is not None
        tree, main, peak = tree_rss(proc.pid)
        cpu = _cpu(proc.pid) if main else samples[-1].cpu_main if samples else 0.0
        hwm = max(hwm, peak)
        read = min(size, sandbox.counters().get(SEARCH, 0) * PAGE_SIZE)
        samples.append(Sample(time.perf_counter() - started, tree, main, read, committed(), cpu))
        if done:
            return samples, hwm
        time.sleep(SAMPLE_EVERY)


def per_10k(samples: list[Sample], startup: float) -> list[dict]:
    """One entry per commit: records committed, wall and CPU seconds per 10k since the last one, peak RSS."""
    first = next((s for s in samples if s.t >= startup), samples[0])
    out, last_t, last_cpu, last_n, peak = [], startup, first.cpu_main, 0, 0
    for s in samples:
        peak = max(peak, s.rss_tree)
        if s.committed > last_n:
            per = PER / (s.committed - last_n)
            out.append(
                {
                    "records": s.committed,
                    "seconds": (s.t - last_t) * per,
                    "cpu_seconds": (s.cpu_main - last_cpu) * per,
                    "rss_mib": peak / MIB,
                }
            )
            last_t, last_cpu, last_n, peak = s.t, s.cpu_main, s.committed, s.rss_tree
    return out


# --- one size ------------------------------------------------------------------------------------
def one_size(size: int, log, kind: str = "sqlite") -> ScaleRun:
    log(f" {size:,} companies: seeding the sandbox…")
    with SandboxProcess(size, 0, 0) as sandbox:
        sandbox_rss = _status(sandbox.pid).get("VmRSS", 0) / MIB
        log(f"  seeded in {sandbox.seed_seconds:.1f} s, sandbox RSS {sandbox_rss:,.0f} MiB")
        work = Path(tempfile.mkdtemp(prefix="crmsync-scale-"))
        try:
            with fresh_store(kind, work, size) as url:
                env = {  # the local API as a child of the command (its RSS in the tree), stopping with it
                    **round_env(),
                    "PREFECT_HOME": str(fresh_prefect_home(work / "prefect")),
                    "CRMSYNC_LOCAL_API_IDLE": "0",
                }
                crmsync = setup_crmsync(sandbox, work, env, url)
                sandbox.reset()
                cpu = sandbox.cpu_seconds()
                out, err = work / "sync.out", work / "sync.err"
                started = time.perf_counter()
                with out.open("w") as stdout, err.open("w") as stderr:
                    cmd = [str(CRMSYNC), "sync", "hubspot", TABLE, "--json"]
                    proc = subprocess.Popen(
                        cmd, env=crmsync.env, cwd=crmsync.home, stdout=stdout, stderr=stderr
                    )
                    samples, hwm = sample_run(proc, sandbox, url, size, started)
                wall = time.perf_counter() - started
                if proc.returncode != 0:
                    raise RuntimeError(f"crmsync sync failed ({proc.returncode}):\n{err.read_text()[-3000:]}")
                calls = sum(n for k, n in sandbox.counters().items() if ":429" not in k and ":5xx" not in k)
                counts = json.loads(out.read_text())["objects"][0]
                rows, top_id = store_rows(url)
            startup = next((s.t for s in samples if s.read), wall)
            run = ScaleRun(
                size=size,
                seed_seconds=sandbox.seed_seconds,
                sandbox_rss_mib=sandbox_rss,
                setup_seconds=crmsync.setup.wall,
                wall=wall,
                startup=startup,
                peak_rss_tree_mib=max(s.rss_tree for s in samples) / MIB,
                peak_rss_main_mib=hwm / MIB,
                api_calls=calls,
                sandbox_cpu=sandbox.cpu_seconds() - cpu,
                rows=rows,
                counts={k: counts.get(k) for k in ("extracted", "created", "updated", "quarantined")},
                samples=samples,
                per_10k=per_10k(samples, startup),
                store=kind,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if rows != size:
        raise SystemExit(f"{size:,} companies in the sandbox but {rows:,} clients landed")
    if top_id != rows:  # the sampler counts ids: a gap would make "records committed" overstate
        log(f"  (largest id {top_id:,} for {rows:,} rows: records committed overstated by the gap)")
    s = run.summary()
    log(
        f"  pulled in {wall:.1f} s (start-up {startup:.1f} s), peak RSS {run.peak_rss_tree_mib:,.0f} MiB "
        f"(crmsync alone {run.peak_rss_main_mib:,.0f}), {s['per_10k_median_s']:.2f} s per 10k, "
        f"{calls} API calls"
    )
    return run


# --- report ------------------------------------------------------------------------------------
def table(runs: list[ScaleRun]) -> str:
    head = (
        f"{'records':>10}{'wall s':>9}{'start-up s':>11}{'rec/s':>8}{'peak RSS MiB':>14}{'crmsync MiB':>13}"
        f"{'s/10k med':>11}{'first':>7}{'last':>7}{'max':>7}{'CPU s/10k':>11}{'RSS/10k first→last MiB':>24}"
        f"{'calls':>7}{'seed s':>8}{'sandbox MiB':>12}"
    )
    lines = [head]
    for r in runs:
        s = r.summary()
        lines.append(
            f"{r.size:>10,}{r.wall:>9.1f}{r.startup:>11.1f}{s['records_per_s']:>8,.0f}"
            f"{r.peak_rss_tree_mib:>14,.0f}{r.peak_rss_main_mib:>13,.0f}"
            f"{s['per_10k_median_s']:>11.2f}{s['per_10k_first_tenth_s']:>7.2f}{s['per_10k_last_tenth_s']:>7.2f}"
            f"{s['per_10k_max_s']:>7.2f}{s['per_10k_cpu_median_s']:>11.2f}"
            f"{s['rss_first_tenth_mib']:>13,.0f} → {s['rss_last_tenth_mib']:<8,.0f}"
            f"{r.api_calls:>7}{r.seed_seconds:>8.1f}{r.sandbox_rss_mib:>12,.0f}"
        )
    by_size = {r.size: r for r in runs}
    if 100_000 in by_size and 1_000_000 in by_size:
        ratio = by_size[1_000_000].peak_rss_tree_mib / by_size[100_000].peak_rss_tree_mib
        big = by_size[1_000_000].peak_rss_tree_mib
        lines.append(
            f"target 5: peak RSS at 1M {big:,.0f} MiB (< 1,024: {'met' if big < 1024 else 'missed'}); "
            f"RSS(1M)/RSS(100k) = {ratio:.2f}× (≤ 1.5: {'met' if ratio <= 1.5 else 'missed'})"
        )
    lines.append(
        "peak RSS: the crmsync process tree (with Prefect's ephemeral API server), sampled every "
        f"{SAMPLE_EVERY} s; crmsync MiB: the CLI process's own VmHWM; s/10k: wall seconds per 10k "
        "records committed (median, first and last tenth, max); CPU s/10k: the crmsync process's "
        "own CPU seconds per 10k (median), steadier than wall time on a loaded machine"
    )
    return "\n".join(lines)


def plot(runs: list[ScaleRun], folder: Path) -> list[Path]:
    """Time per 10k and RSS against records processed, every size overlaid; the PNGs written."""
    try:
        import matplotlib
    except ImportError:
        print("  (matplotlib is missing: no plots; `make bench-full` installs the bench group)")
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    prefix = PLOT_PREFIX[runs[0].store] if runs else PLOT_PREFIX["sqlite"]
    paths = [folder / f"{prefix}-time-per-10k.png", folder / f"{prefix}-rss.png"]
    on = "" if prefix == PLOT_PREFIX["sqlite"] else " (PostgreSQL store)"
    colours = {r.size: f"C{i}" for i, r in enumerate(runs)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        for r in runs:
            xs = [p["records"] for p in r.per_10k]
            marker = "o" if len(xs) < 30 else None
            ax.plot(
                xs,
                [p["seconds"] for p in r.per_10k],
                marker=marker,
                color=colours[r.size],
                label=f"{r.size:,} wall",
            )
            cpu = [p.get("cpu_seconds") for p in r.per_10k]
            if all(c is not None for c in cpu):
                cpu_marker = "x" if marker else None
                label = f"{r.size:,} CPU (crmsync)"
                ax.plot(xs, cpu, linestyle=":", marker=cpu_marker, color=colours[r.size], label=label)
        ax.set(xscale=scale, xlabel="records committed", ylabel="seconds per 10k records", ylim=(0, None))
        ax.grid(alpha=0.3)
    axes[0].legend(title="run size", fontsize=8)
    fig.suptitle(f"crmsync sync hubspot clients{on}: time per 10k records (start-up excluded)")
    fig.tight_layout()
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        for r in runs:
            # From the first API call; the last sample (the process gone, RSS 0) is left out.
            shown = [s for s in r.samples if s.t >= r.startup and s.rss_main]
            xs = [s.read for s in shown]
            ax.plot(xs, [s.rss_tree / MIB for s in shown], color=colours[r.size], label=f"{r.size:,}: tree")
            ax.plot(
                xs,
                [s.rss_main / MIB for s in shown],
                color=colours[r.size],
                linestyle=":",
                label=f"{r.size:,}: crmsync process alone",
            )
        ax.axhline(1024, color="red", linewidth=0.8, linestyle="--", label="1 GiB")
        ax.set(xscale=scale, xlabel="records read from the API", ylabel="RSS MiB", ylim=(0, None))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"crmsync sync hubspot clients{on}: RSS sampled every {SAMPLE_EVERY} s (tree: with Prefect's server)"
    )
    fig.tight_layout()
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths


def save(runs: list[ScaleRun], out: str) -> None:
    results = [{**asdict(r), "summary": r.summary()} for r in runs]
    Path(out).write_text(json.dumps({"loadavg": os.getloadavg(), "runs": results}, indent=1))


def load(path: str) -> list[ScaleRun]:
    """Runs saved by ``BENCH_JSON_SCALE``, to re-draw the plots (``python -m bench.scale FILE``)."""
    runs = []
    for r in json.loads(Path(path).read_text())["runs"]:
        r.pop("summary", None)
        r["samples"] = [Sample(**s) for s in r["samples"]]
        runs.append(ScaleRun(**r))
    return runs


def main(log=print) -> list[ScaleRun]:
    folder = Path(os.environ.get("BENCH_PLOT_DIR") or ROOT / "docs")
    if len(sys.argv) > 1 and __name__ == "__main__":  # re-draw from saved results, run nothing
        runs = load(sys.argv[1])
        log(table(runs))
        for path in plot(runs, folder):
            log(f"  plot: {path}")
        return runs
    sizes = [int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "10000,100000,1000000").split(",")]
    kind = os.environ.get("BENCH_SCALE_STORE", "sqlite")
    if kind not in STORES:
        raise SystemExit(f"BENCH_SCALE_STORE={kind!r}: one of {', '.join(STORES)}")
    started = time.perf_counter()
    log(
        f"scale: crmsync sync hubspot clients (pull) into {kind} at "
        f"{', '.join(f'{n:,}' for n in sizes)} records"
    )
    log(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = []
    for n in sizes:
        runs.append(one_size(n, log, kind))
        if os.environ.get("BENCH_JSON_SCALE"):  # saved after every size: a long run keeps what it measured
            save(runs, os.environ["BENCH_JSON_SCALE"])
    log(table(runs))
    for path in plot(runs, folder):
        log(f"  plot: {path}")
    log(f"(scale in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f})")
    return runs


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
