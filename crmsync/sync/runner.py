"""The run path of one integration × object: the chunk loops of pull and push, and the run ledger.

A run is a sequence of steps over bounded chunks, given as a ``Steps`` table: the flows pass
Prefect tasks (``tasks.STEPS``), tests and in-process tools the plain functions
(``crmsync.sync.steps.PLAIN``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmsync import config
from crmsync.settings import skip_reason
from crmsync.store.locks import run_lock
from crmsync.sync import pull, push
from crmsync.sync.counts import PullCounts, PushCounts
from crmsync.sync.report import summarize

if TYPE_CHECKING:
    from crmsync.sync.context import RunContext
    from crmsync.sync.steps import Steps


@dataclass(frozen=True)
class Window:
    """A backfill's window of CRM modification times; it never moves the incremental cursor."""

    since: datetime
    until: datetime | None = None


def pull_object(ctx: RunContext, steps: Steps, run_id: str, window: Window | None = None) -> PullCounts:
    """Pull the CRM's changes in chunks: extract, transform, validate, load (one commit each)."""
    counts = PullCounts()
    since = pull.start_cursor(ctx.store.state.cursor(ctx.scope, "pull"), window.since if window else None)
    until = window.until if window else None
    stream = pull.open_changes(ctx.connector, ctx.plan, since, until, skip_seen=window is None)
    options = pull.LoadOptions(run_id=run_id, move_cursor=window is None)
    try:
        while True:
            done = steps.pull_chunk(ctx, stream, options)  # extract, transform, validate, load
            if done.empty:
                break
            counts.add(done.counts)
            ctx.report("pull", done.records)
            if not done.more:
                break
    finally:
        stream.close()  # the pages read ahead stop with the run
    counts.parked -= steps.link_parked(ctx)
    if window is None:  # deletions follow their own cursor: the incremental sync's job, not a backfill's
        counts.deleted += steps.apply_deletes(ctx)
    return counts


def push_object(ctx: RunContext, steps: Steps, run_id: str) -> PushCounts:
    """Push ClientSuccess changes in chunks: extract, validate, write to the CRM, commit."""
    counts = PushCounts()
    position = push.start_position(ctx.store.state.cursor(ctx.scope, "push"))
    # Quarantined records are retried on their back-off (or when they change), not on every run.
    retry_ids = [int(key) for key in ctx.store.state.due_keys(ctx.scope, "push")]
    options = _LiveOptions(ctx, steps)
    while True:
        chunk = steps.extract_cs(ctx, position, retry_ids)
        retry_ids = []
        if chunk.empty:
            break
        checked = steps.validate(ctx, chunk.rows, "push")
        decided = steps.plan_push(ctx, chunk, options.get() if len(chunk.rows) else {}, checked.failures)
        results = steps.write_crm(ctx, decided)
        counts.add(steps.commit_push(ctx, chunk, decided, results, run_id))
        ctx.report("push", chunk.read)
        if chunk.cursor is None:
            break
        position = chunk.cursor
    return counts


class _LiveOptions:
    """The CRM's live option lists: one describe call per run, and only if something is pushed."""

    def __init__(self, ctx: RunContext, steps: Steps) -> None:
        self._ctx, self._steps = ctx, steps
        self._options: dict[str, tuple[str, ...]] | None = None

    def get(self) -> dict[str, tuple[str, ...]]:
        if self._options is None:
            self._options = self._steps.read_options(self._ctx)
        return self._options


def run_object(
    ctx: RunContext, steps: Steps, window: Window | None = None, flow_run_id: str | None = None
) -> dict[str, Any]:
    """Pull then push one object as its effective directions allow, recorded in the run ledger."""
    reason = skip_reason(ctx.integration.enabled, ctx.plan.direction)
    if reason:
        return {"object": ctx.plan.cs_object, "status": reason}
    run_id = uuid.uuid4().hex
    if ctx.preview is not None:  # a preview writes nothing: no lock, no run ledger
        counts = _run_directions(ctx, steps, run_id, window)
    else:
        # One writer per integration × object, whoever starts it (CLI, deployment, backfill).
        with run_lock(ctx.store.engine, ctx.scope.integration, ctx.scope.cs_object, run_id):
            state = ctx.store.state
            state.mark_crashed(ctx.scope.integration, ctx.scope.cs_object)
            state.prune_history(config.history_days())  # history stays bounded
            state.start_run(run_id, ctx.scope, "backfill" if window else "sync", flow_run_id=flow_run_id)
            counts = _run_directions(ctx, steps, run_id, window)
    return {
        "object": ctx.plan.cs_object,
        "external_object": ctx.plan.external_object,
        "status": "completed",
        **counts,
    }


def _run_directions(ctx: RunContext, steps: Steps, run_id: str, window: Window | None) -> dict[str, int]:
    """Pull then push as the plan allows; the run ledger (not a preview's) records how it ended."""
    ledger = ctx.store.state if ctx.preview is None else None
    pulled, pushed = PullCounts(), PushCounts()
    try:
        if ctx.plan.pull_fields:
            pulled = pull_object(ctx, steps, run_id, window)
        if ctx.plan.push_fields and window is None:  # a backfill re-pulls; it never pushes
            pushed = push_object(ctx, steps, run_id)
    except Exception as exc:
        if ledger:
            ledger.finish_run(run_id, "failed", {}, message=_one_line(exc))
        raise
    counts = summarize(pulled, pushed)
    if ledger:
        ledger.finish_run(run_id, "completed", counts)
    return counts


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
