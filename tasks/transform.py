"""Transform: the compiled field mappings, applied to whole chunks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import task
from prefect.cache_policies import NO_CACHE

from crmsync.sync import pull
from crmsync.sync.context import RunContext

if TYPE_CHECKING:
    import pandas as pd


@task(name="transform pulled records", cache_policy=NO_CACHE)
def transform_pulled(ctx: RunContext, chunk: pull.PullChunk) -> pd.DataFrame:
    """CRM records as ClientSuccess rows (renames, value maps, named transforms, type casts),
    less those identical to what was last synced."""
    return pull.drop_unchanged(ctx.store, ctx.plan, chunk, pull.transform(ctx.plan, chunk))


@task(name="read CRM options", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def read_options(ctx: RunContext) -> dict[str, tuple[str, ...]]:
    """The live enumeration / picklist options of the fields this run pushes (one describe call)."""
    pushed = {f.external for f in ctx.plan.push_fields}
    fields = ctx.connector.describe(ctx.plan.external_object)
    return {f.name: f.options for f in fields if f.name in pushed and f.options}
