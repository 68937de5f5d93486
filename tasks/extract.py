"""Extract: bounded chunks of changes, from the CRM (pull) or from the store (push)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from crmsync.connectors.base import Cursor
from crmsync.sync import pull, push
from crmsync.sync.context import RunContext


@task(name="extract CRM changes", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def extract_crm_changes(ctx: RunContext, since: Cursor, until: datetime | None = None) -> pull.PullChunk:
    """One chunk of CRM records changed after ``since``, with their parents."""
    return pull.extract_chunk(ctx.connector, ctx.plan, since, until)


@task(name="extract ClientSuccess changes", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def extract_cs_changes(
    ctx: RunContext, since: tuple[datetime | None, str], retry_ids: list[int]
) -> push.PushChunk:
    """One chunk of CS records changed after ``since``, plus quarantined ones to retry."""
    return push.extract_chunk(ctx.store, ctx.plan, since, retry_ids)
