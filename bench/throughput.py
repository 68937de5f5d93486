"""Target 2 of issue 8: transform + validate + load at 100k records on one core, the API excluded.

Pages are captured once from a HubSpot sandbox (``bench.sandbox``, its own process, seeded with
``BENCH_THROUGHPUT_RECORDS`` companies, default 100,000) through crmsync's own connector
(``read_changed``, exactly what a pull's extract reads), and the sandbox is stopped. Then, pinned
to one core, the real run path pulls them into a fresh SQLite store: ``runner.run_object`` with
the plain step functions (``crmsync.sync.steps.PLAIN``) and a connector that replays the
captured pages. Each step is wrapped in a timer and nothing else changes: the run takes its
lock, writes its ledger and commits each chunk with its cursor as a sync would.

Reported per step (wall and CPU time of this process, records/s) for transform, validate and
load, their total (the target: ≥ 100,000 records/s, validation < 5 % of it), and extract apart:
replayed pages to chunk frames, no API, not part of the target. Results as JSON to
``BENCH_JSON_THROUGHPUT`` if set; ``BENCH_CPU`` picks the core (default: the last one allowed).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.sandbox import ROOT, SandboxProcess

STEPS = ("extract", "transform", "validate", "load")
TARGET = ("transform", "validate", "load")


@dataclass
class StepTimes:
    """Wall and CPU seconds of each step, per chunk, and the records each chunk carried."""

    wall: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    records: list[int] = field(default_factory=list)

    def timed(self, name: str, fn: Callable) -> Callable:
        def step(*args: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn(*args)
            self.wall[name].append(time.perf_counter() - wall)
            self.cpu[name].append(time.process_time() - cpu)
            if name == "extract" and not out.empty:
                self.records.append(len(out.frame))
            return out

        return step


class ReplayConnector:
    """The HubSpot connector, but its change pages come from memory and nothing else calls the API."""

    def __init__(self, real: Any, pages: list) -> None:
        self._real, self._pages = real, pages
        self.kind = real.kind
        self.deletions_in_changes = real.deletions_in_changes
        self.deletion_sweep_every = real.deletion_sweep_every

    def read_changed(self, obj: str, fields: Any, since: Any, until: Any = None) -> Iterator:
        return iter(self._pages)

    def read_parents(self, obj: str, records: Any) -> dict[str, str]:
        return {}  # companies have no parent

    def read_deleted(self, obj: str, since: Any) -> Iterator:
        return iter(())

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the replay connector does not call the API ({name})")


def _prepare(home: Path, records: int, log) -> tuple[Any, ReplayConnector]:
    """A fresh store with HubSpot connected (clients: pull) and the captured pages of a full pull."""
    os.environ.update(
        CRMSYNC_HOME=str(home / ".crmsync"),
        CRMSYNC_DATABASE_URL=f"sqlite:///{home / 'crmsync.db'}",
    )
    from crmsync import page
    from crmsync.connectors import open_connector
    from crmsync.connectors.base import Cursor
    from crmsync.store import Store
    from crmsync.sync.context import open_context

    with SandboxProcess(records, 0, 0) as sandbox:
        os.environ.update(sandbox.env)
        store = Store()
        page.connect(store, "hubspot")
        store.settings.set_direction("hubspot", "clients", "pull")
        plan = open_context(store, "hubspot", "clients").plan
        started = time.perf_counter()
        connector = open_connector("hubspot")
        pages = list(connector.read_changed(plan.external_object, plan.read_fields(), Cursor()))
        n = sum(len(p.records) for p in pages)
        log(f"  captured {n:,} companies in {len(pages)} pages in {time.perf_counter() - started:.1f} s")
    return store, ReplayConnector(connector, pages)


def _pin(log) -> int:
    allowed = sorted(os.sched_getaffinity(0))
    cpu = int(os.environ.get("BENCH_CPU", allowed[-1]))
    os.sched_setaffinity(0, {cpu})
    log(f"  pinned to CPU {cpu} (of {len(allowed)} allowed)")
    return cpu


def measure(records: int, log=print) -> dict:
    """Capture, then replay a full pull through the timed plain steps; the results as a dict."""
    from crmsync.sync import runner
    from crmsync.sync import steps as plain
    from crmsync.sync.context import open_context
    from crmsync.sync.steps import PLAIN, chunk_puller

    home = Path(tempfile.mkdtemp(prefix="crmsync-throughput-"))
    try:
        store, replay = _prepare(home, records, log)
        cpu = _pin(log)
        times = StepTimes()
        steps = replace(
            PLAIN,
            pull_chunk=chunk_puller(
                times.timed("load", plain.load),
                extract_step=times.timed("extract", plain.extract_crm),
                transform_step=times.timed("transform", plain.transform),
                validate_step=times.timed("validate", plain.validate),
            ),
        )
        ctx = open_context(store, "hubspot", "clients", connector_factory=lambda: replay)
        usage, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        counts = runner.run_object(ctx, steps)
        run_wall = time.perf_counter() - started
        switches = _switches(usage, resource.getrusage(resource.RUSAGE_SELF))
        with store.engine.connect() as con:
            rows = con.exec_driver_sql("SELECT COUNT(*) FROM clients").scalar()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if counts.get("created") != records or rows != records:
        raise SystemExit(f"expected {records:,} clients created, the run says {counts}, the store {rows}")
    return {**_results(records, times, run_wall, counts, cpu, rows), "context_switches": switches}


def _switches(before: resource.struct_rusage, after: resource.struct_rusage) -> dict[str, int]:
    """Waits during the run: voluntary switches (I/O, fsync, locks) against preemptions (a busy core)."""
    return {
        "voluntary": after.ru_nvcsw - before.ru_nvcsw,
        "involuntary": after.ru_nivcsw - before.ru_nivcsw,
        "blocks_written": after.ru_oublock - before.ru_oublock,
    }


def _results(records: int, times: StepTimes, run_wall: float, counts: dict, cpu: int, rows: int) -> dict:
    steps = {}
    for name in STEPS:
        wall, cpu_s = sum(times.wall[name]), sum(times.cpu[name])
        steps[name] = {
            "wall_s": wall,
            "cpu_s": cpu_s,
            "records_per_s_wall": records / wall if wall else float("inf"),
            "records_per_s_cpu": records / cpu_s if cpu_s else float("inf"),
            "per_chunk_wall_s": times.wall[name],
        }
    wall = sum(steps[s]["wall_s"] for s in TARGET)
    cpu_s = sum(steps[s]["cpu_s"] for s in TARGET)
    total = {
        "wall_s": wall,
        "cpu_s": cpu_s,
        "records_per_s_wall": records / wall,
        "records_per_s_cpu": records / cpu_s,
        "validation_share_wall": steps["validate"]["wall_s"] / wall,
        "validation_share_cpu": steps["validate"]["cpu_s"] / cpu_s,
    }
    return {
        "records": records,
        "chunks": len(times.records),
        "chunk_records": times.records,
        "cpu": cpu,
        "steps": steps,
        "total": total,
        "run_object_wall_s": run_wall,
        "counts": {k: counts.get(k) for k in ("extracted", "created", "updated", "quarantined")},
        "rows": rows,
        "loadavg": os.getloadavg(),
    }


def table(r: dict) -> str:
    lines = [f"{'step':<22}{'wall s':>8}{'CPU s':>8}{'rec/s (wall)':>14}{'rec/s (CPU)':>13}{'share':>8}"]
    total = r["total"]
    for name in (*TARGET, "total", "extract"):
        s = total if name == "total" else r["steps"][name]
        label = {"total": "transform+validate+load", "extract": "extract (replay, apart)"}.get(name, name)
        share = f"{s['wall_s'] / total['wall_s']:>7.1%}" if name in TARGET else ""
        lines.append(
            f"{label:<22}{s['wall_s']:>8.2f}{s['cpu_s']:>8.2f}{s['records_per_s_wall']:>14,.0f}"
            f"{s['records_per_s_cpu']:>13,.0f}{share:>8}"
        )
    rate, share = total["records_per_s_wall"], total["validation_share_wall"]
    lines.append(
        f"target 2: {rate:,.0f} records/s (≥ 100,000: {'met' if rate >= 100_000 else 'missed'}); "
        f"validation {share:.1%} of it (< 5 %: {'met' if share < 0.05 else 'missed'}); "
        f"{r['chunks']} chunks, first chunk's t+v+l "
        f"{sum(r['steps'][s]['per_chunk_wall_s'][0] for s in TARGET):.2f} s; "
        f"run_object {r['run_object_wall_s']:.1f} s in all"
    )
    cs = r.get("context_switches")
    if cs:
        lines.append(
            f"CPU s / wall s = {total['cpu_s'] / total['wall_s']:.0%}; context switches {cs['voluntary']:,} "
            f"voluntary (I/O, locks), {cs['involuntary']:,} involuntary (preempted on a busy core)"
        )
    return "\n".join(lines)


def main(log=print) -> dict:
    records = int(os.environ.get("BENCH_THROUGHPUT_RECORDS", "100000"))
    log(f"throughput: transform + validate + load of {records:,} HubSpot companies, one core, no API")
    log(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result = measure(records, log)
    log(table(result))
    out = os.environ.get("BENCH_JSON_THROUGHPUT")
    if out:
        Path(out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
