"""The steps of a run as plain functions of the run context; ``tasks/`` wraps each as a Prefect task.

``Steps`` is the table of them that the run path (``crmsync.sync.runner``) calls. Each step
reads what it needs and has at most one side effect: ``load`` and ``commit_push``
write the store, ``write_crm`` writes the CRM, the others only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import Retrying, stop_after_attempt, wait_fixed

from crmsync import validation
from crmsync.faults import crash_point
from crmsync.sync import pull, push
from crmsync.sync.counts import PullCounts, PushCounts

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.connectors.base import WriteResult
    from crmsync.sync.context import RunContext

    LoadStep = Callable[
        [RunContext, pull.PullChunk, validation.ValidationResult, pull.LoadOptions], PullCounts
    ]
    PullChunkStep = Callable[[RunContext, pull.ChangeStream, pull.LoadOptions], "ChunkDone"]


@dataclass(frozen=True)
class ChunkDone:
    """What one pulled chunk did: its counts, its size, whether the stream has more. No records."""

    counts: PullCounts
    records: int = 0
    more: bool = False
    empty: bool = False


@dataclass(frozen=True)
class Steps:
    """The steps of a run, each a function of the run context (Prefect tasks in the flows)."""

    pull_chunk: PullChunkStep
    validate: Callable[[RunContext, pd.DataFrame, str], validation.ValidationResult]
    link_parked: Callable[[RunContext], int]
    apply_deletes: Callable[[RunContext], int]
    extract_cs: Callable[[RunContext, push.Position, list[int]], push.PushChunk]
    read_options: Callable[[RunContext], dict[str, tuple[str, ...]]]
    plan_push: Callable[[RunContext, push.PushChunk, dict, pd.DataFrame], push.PushPlan]
    write_crm: Callable[[RunContext, push.PushPlan], list[WriteResult]]
    commit_push: Callable[[RunContext, push.PushChunk, push.PushPlan, list[WriteResult], str], PushCounts]


def extract_crm(ctx: RunContext, stream: pull.ChangeStream) -> pull.PullChunk:
    """The next chunk of CRM records from the run's change stream, with their parents."""
    return pull.extract_chunk(ctx.connector, ctx.plan, stream, ctx.store if stream.skip_seen else None)


def transform(ctx: RunContext, chunk: pull.PullChunk) -> pd.DataFrame:
    """CRM records as ClientSuccess rows, less those identical to what was last synced."""
    return pull.drop_unchanged(ctx.store, ctx.plan, chunk, pull.transform(ctx.plan, chunk))


def validate(ctx: RunContext, frame: pd.DataFrame, direction: str) -> validation.ValidationResult:
    """Split a chunk into rows that pass the object's suite and failures with the rule they broke."""
    return validation.validate(frame, ctx.plan.cs_object, direction)


def load(
    ctx: RunContext, chunk: pull.PullChunk, checked: validation.ValidationResult, options: pull.LoadOptions
) -> PullCounts:
    """Link, create or update CS records, with conflicts, quarantine and the cursor: one commit."""
    batch, counts = pull.decide_pull(ctx.store, ctx.plan, chunk, checked.valid, checked.failures)
    if not options.move_cursor:
        batch.cursor = None
    crash_point("pull.before_commit")
    ctx.store.state.apply_pull(ctx.scope, batch, options.run_id)
    return counts


def chunk_puller(
    load_step: LoadStep,
    extract_step: Callable[..., pull.PullChunk] = extract_crm,
    transform_step: Callable[..., pd.DataFrame] = transform,
    validate_step: Callable[..., validation.ValidationResult] = validate,
) -> PullChunkStep:
    """One chunk's extract, transform, validate and ``load_step``, as one step that returns counts.

    The chunk's records never leave the step: a Prefect task run keeps its parameters and its
    result until the run around it ends, so passing chunks between tasks kept every chunk of an
    object in memory. The load is retried (twice, as its commit is one transaction); the extract
    is not: a half-read page stream cannot be replayed, and a failed run resumes from its cursor.
    """

    def pull_chunk(ctx: RunContext, stream: pull.ChangeStream, options: pull.LoadOptions) -> ChunkDone:
        chunk = extract_step(ctx, stream)
        if chunk.empty:
            return ChunkDone(PullCounts(), empty=True)
        checked = validate_step(ctx, transform_step(ctx, chunk), "pull")
        for attempt in Retrying(stop=stop_after_attempt(3), wait=wait_fixed(1), reraise=True):
            with attempt:
                counts = load_step(ctx, chunk, checked, options)
        return ChunkDone(counts, len(chunk.frame), chunk.more)

    return pull_chunk


pull_chunk = chunk_puller(load)


def link_parked(ctx: RunContext) -> int:
    """Children pulled before their parent was linked get their parent now, if it is linked."""
    return pull.resolve_parked(ctx.store, ctx.plan)


def apply_deletes(ctx: RunContext) -> int:
    """Records the CRM archived or deleted since the last run: unlink or flag them, per the mapping."""
    return pull.apply_deletes(ctx.store, ctx.connector, ctx.plan)


def extract_cs(ctx: RunContext, since: push.Position, retry_ids: list[int]) -> push.PushChunk:
    """One chunk of CS records changed after ``since``, plus quarantined ones to retry."""
    return push.extract_chunk(ctx.store, ctx.plan, since, retry_ids)


def read_options(ctx: RunContext) -> dict[str, tuple[str, ...]]:
    """The live enumeration / picklist options of the fields this run pushes (one describe call)."""
    pushed = {f.external for f in ctx.plan.push_fields}
    fields = ctx.connector.describe(ctx.plan.external_object)
    return {f.name: f.options for f in fields if f.name in pushed and f.options}


def plan_push(
    ctx: RunContext, chunk: push.PushChunk, options: dict[str, tuple[str, ...]], failures: pd.DataFrame
) -> push.PushPlan:
    """Which records to write and with which values; values the CRM's options reject stay here."""
    return push.decide_push(ctx.store, ctx.plan, chunk, options, failures)


def write_crm(ctx: RunContext, decided: push.PushPlan) -> list[WriteResult]:
    """Write the decided records to the CRM in batches (upserts on the ClientSuccess id)."""
    results = push.push(ctx.connector, ctx.plan, decided)
    crash_point("push.after_write")  # the CRM has the records, the store has no links yet
    return results


def commit_push(
    ctx: RunContext,
    chunk: push.PushChunk,
    decided: push.PushPlan,
    results: list[WriteResult],
    run_id: str,
) -> PushCounts:
    """Links, quarantine and the push cursor of one written chunk, in one commit."""
    batch, counts = push.record_results(ctx.store, ctx.plan, chunk, decided, results)
    ctx.store.state.apply_push(ctx.scope, batch, run_id)
    return counts


PLAIN = Steps(
    pull_chunk=pull_chunk,
    validate=validate,
    link_parked=link_parked,
    apply_deletes=apply_deletes,
    extract_cs=extract_cs,
    read_options=read_options,
    plan_push=plan_push,
    write_crm=write_crm,
    commit_push=commit_push,
)
