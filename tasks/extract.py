"""Extract: bounded chunks of changes, from the CRM (pull) or from the store (push)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from crmsync.sync import pull, push
from crmsync.sync.context import RunContext


# No task-level retries: the connector already retries each call (429, 5xx, timeouts), and a
# half-read page stream cannot be replayed; a failed run resumes from the committed cursor.
@task(name="extract CRM changes", cache_policy=NO_CACHE)
def extract_crm_changes(ctx: RunContext, stream: pull.ChangeStream) -> pull.PullChunk:
    """The next chunk of CRM records from the run's change stream, with their parents."""
    return pull.extract_chunk(ctx.connector, ctx.plan, stream)


@task(name="extract ClientSuccess changes", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def extract_cs_changes(
    ctx: RunContext, since: tuple[datetime | None, str], retry_ids: list[int]
) -> push.PushChunk:
    """One chunk of CS records changed after ``since``, plus quarantined ones to retry."""
    return push.extract_chunk(ctx.store, ctx.plan, since, retry_ids)
