"""Load: pulled rows into the store, pushed rows into the CRM, each chunk with its cursor."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from crmsync.faults import crash_point
from crmsync.sync import pull, push
from crmsync.sync.context import RunContext


@task(name="load pulled chunk", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def load_pulled(
    ctx: RunContext, chunk: pull.PullChunk, rows, failures, run_id: str, move_cursor: bool = True
) -> pull.PullCounts:
    """Link, create or update CS records, record conflicts and quarantine, move the cursor: one commit.

    A backfill re-reads an old window and leaves the incremental cursor where it is.
    """
    batch, counts = pull.decide_pull(ctx.store, ctx.plan, chunk, rows, failures)
    if not move_cursor:
        batch.cursor = None
    crash_point("pull.before_commit")
    ctx.store.state.apply_pull(ctx.scope, batch, run_id)
    return counts


@task(name="push chunk", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def push_chunk(
    ctx: RunContext, chunk: push.PushChunk, options: Callable[[], dict], failures, run_id: str
) -> push.PushCounts:
    """Write changed CS records to the CRM in batches; links, quarantine and cursor in one commit."""
    decided = push.decide_push(ctx.store, ctx.plan, chunk, options, failures)
    results = push.push(ctx.connector, ctx.plan, decided)
    crash_point("push.after_write")  # the CRM has the records, the store has no links yet
    batch, counts = push.record_results(ctx.store, ctx.plan, chunk, decided, results)
    ctx.store.state.apply_push(ctx.scope, batch, run_id)
    return counts


@task(name="apply CRM deletes", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def apply_deletes(ctx: RunContext) -> int:
    """Records the CRM archived or deleted since the last run: unlink or flag them, per the mapping."""
    return pull.apply_deletes(ctx.store, ctx.connector, ctx.plan)


@task(name="link parked children", cache_policy=NO_CACHE)
def link_parked_children(ctx: RunContext) -> int:
    """Children pulled before their parent was linked get their parent now, if it is linked."""
    return pull.resolve_parked(ctx.store, ctx.plan)
