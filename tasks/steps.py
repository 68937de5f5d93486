"""Each step of a run as a Prefect task: a verb and a noun, with retries where a retry is safe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from crmsync.sync import preview, steps


def _task(fn: Callable[..., Any], name: str, retries: int = 0, delay: float = 1) -> Task:
    return task(fn, name=name, retries=retries, retry_delay_seconds=delay, cache_policy=NO_CACHE)


def _quoted(step: Task) -> Callable[..., Any]:
    """Call a task with every argument quoted, so Prefect does not walk chunks and frames."""

    def call(*args: Any) -> Any:
        return step(*(quote(arg) for arg in args))

    call.__name__ = step.name
    return call


# One task run per pulled chunk (extract, transform, validate, load: see steps.chunk_puller),
# returning counts only. No task retries: the connector retries each call (429, 5xx, timeouts),
# the load retries its commit, and a half-read page stream cannot be replayed.
pull_chunk = _task(steps.pull_chunk, "pull chunk")
validate_chunk = _task(steps.validate, "validate chunk")
link_parked_children = _task(steps.link_parked, "link parked children")
apply_crm_deletes = _task(steps.apply_deletes, "apply CRM deletes", retries=2, delay=5)
extract_cs_changes = _task(steps.extract_cs, "extract ClientSuccess changes", retries=2)
read_crm_options = _task(steps.read_options, "read CRM options", retries=2, delay=5)
plan_push = _task(steps.plan_push, "plan push")
# Writes are upserts on the ClientSuccess id, so a retried write updates instead of duplicating.
write_to_crm = _task(steps.write_crm, "write to CRM", retries=2, delay=5)
commit_push = _task(steps.commit_push, "commit pushed chunk", retries=2)

STEPS = steps.Steps(
    pull_chunk=_quoted(pull_chunk),
    validate=_quoted(validate_chunk),
    link_parked=_quoted(link_parked_children),
    apply_deletes=_quoted(apply_crm_deletes),
    extract_cs=_quoted(extract_cs_changes),
    read_options=_quoted(read_crm_options),
    plan_push=_quoted(plan_push),
    write_crm=_quoted(write_to_crm),
    commit_push=_quoted(commit_push),
)

# The preview's steps: the sync's tasks, with the writing ones swapped for reporting ones.
pull_chunk_preview = _task(steps.chunk_puller(preview.load), "preview pulled chunk")
link_parked_preview = _task(preview.link_parked, "preview parked children")
apply_deletes_preview = _task(preview.apply_deletes, "preview CRM deletes")
write_preview = _task(preview.write_crm, "preview CRM writes")
commit_preview = _task(preview.commit_push, "preview pushed chunk")

PREVIEW_STEPS = replace(
    STEPS,
    pull_chunk=_quoted(pull_chunk_preview),
    link_parked=_quoted(link_parked_preview),
    apply_deletes=_quoted(apply_deletes_preview),
    write_crm=_quoted(write_preview),
    commit_push=_quoted(commit_preview),
)
