"""Validate: the object's Great Expectations suite, once per chunk."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from crmsync import validation
from crmsync.sync.context import RunContext


@task(name="validate chunk", cache_policy=NO_CACHE)
def validate_chunk(ctx: RunContext, frame, direction: str) -> validation.ValidationResult:
    """Split a chunk into rows that pass the suite and failures with the expectation that failed."""
    return validation.validate(frame, ctx.plan.cs_object, direction)
