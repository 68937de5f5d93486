"""The backfill flow: re-pull what a CRM changed in [since, until), window by window.

Each window is a task run with retries. A backfill never pushes and never moves the incremental
cursor; each window holds the object's run lock, so it never writes at the same time as a sync
of that object (``crmsync.store.locks``). A completed window is recorded in
``backfill_windows``, and a re-run of the same backfill skips it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from crmsync.faults import crash_point
from crmsync.sync.backfill import Day, WindowSize, split_windows, window_done
from crmsync.sync.context import open_context
from crmsync.sync.runner import Window, run_object
from crmsync.sync.steps import PLAIN
from flows.sync import tag_this_run


def _run_name() -> str:
    p = flow_run.parameters
    return f"{p['integration']} · {p['cs_object']} · backfill {p['since']}..{p.get('until') or 'now'}"


@task(name="backfill window", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def backfill_window(integration: str, cs_object: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Re-pull one window under the object's lock; record it as completed right after its last chunk."""
    from crmsync.store import Store

    store = Store()
    ctx = open_context(store, integration, cs_object)  # run_object holds the object's run lock
    result = run_object(ctx, PLAIN, Window(start, end), flow_run_id=str(flow_run.get_id() or "") or None)
    if result["status"] == "completed":
        store.state.complete_window(integration, cs_object, start, end)
        crash_point("backfill.window_done")
    return {"start": start.isoformat(), "end": end.isoformat(), **result}


@flow(name="crmsync-backfill", flow_run_name=_run_name)
def backfill(
    integration: str, cs_object: str, since: Day, until: Day | None = None, window: WindowSize = "1d"
) -> dict[str, Any]:
    """Re-pull the records the CRM changed from ``since`` to ``until`` (default: today), window by window."""
    from crmsync.store import Store

    store = Store()
    store.settings.object_setting(integration, cs_object)  # unknown names fail before any work
    windows = split_windows(since, until, window)
    done = store.state.completed_windows(integration, cs_object)
    results = []
    tag_this_run(integration, cs_object, "backfill")
    for start, end in windows:
        if (start, end) in done:
            results.append({"start": start.isoformat(), "end": end.isoformat(), "status": "already done"})
        else:
            results.append(backfill_window(integration, cs_object, start, end))
        window_done(start, end, results[-1]["status"])
    skipped = sum(r["status"] == "already done" for r in results)
    get_run_logger().info("%s windows, %s already done before this run", len(windows), skipped)
    return {"integration": integration, "object": cs_object, "windows": results}
