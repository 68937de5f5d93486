"""The sync flows. Each reads like the design: extract, transform, validate, load.

Chunks, frames and the run context are passed to tasks ``quote``d: Prefect would otherwise
walk every element of them (10,000 links are ~500,000 visits) to track task dependencies.

``sync_integration`` checks the global toggle, then runs each object that is not disabled,
in dependency order (clients, contacts, subscriptions), as a subflow named for the pair,
so every integration × object is its own run in the Prefect UI.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from crmsync.models import utcnow
from crmsync.settings import CS_OBJECTS
from crmsync.sync import pull, push
from crmsync.sync.context import RunContext, open_context
from crmsync.sync.report import publish_artifact, summarize
from tasks.extract import extract_crm_changes, extract_cs_changes
from tasks.load import apply_deletes, link_parked_children, load_pulled, push_chunk
from tasks.transform import read_options, transform_pulled
from tasks.validate import validate_chunk


def _pull(ctx: RunContext, run_id: str, since: datetime | None, until: datetime | None) -> pull.PullCounts:
    counts = pull.PullCounts()
    cursor = pull.start_cursor(ctx.store.state.cursor(ctx.scope, "pull"), since)
    stream = pull.open_changes(ctx.connector, ctx.plan, cursor, until)
    while True:
        chunk = extract_crm_changes(quote(ctx), quote(stream))
        if chunk.empty:
            break
        rows = transform_pulled(quote(ctx), quote(chunk))
        checked = validate_chunk(quote(ctx), quote(rows), "pull")
        counts.add(
            load_pulled(
                quote(ctx),
                quote(chunk),
                quote(checked.valid),
                quote(checked.failures),
                run_id,
                move_cursor=since is None,
            )
        )
        ctx.report("pull", len(chunk.frame))
        if not chunk.more:
            break
    counts.parked -= link_parked_children(quote(ctx))
    counts.deleted = apply_deletes(quote(ctx))
    return counts


def _push(ctx: RunContext, run_id: str) -> push.PushCounts:
    counts = push.PushCounts()
    position = push.start_position(ctx.store.state.cursor(ctx.scope, "push"))
    retry_ids = [int(key) for key in ctx.store.state.quarantined_keys(ctx.scope, "push")]
    read: list[dict] = []

    def live_options() -> dict:  # one describe call per run, and only if something is pushed
        if not read:
            read.append(read_options(quote(ctx)))
        return read[0]

    while True:
        chunk = extract_cs_changes(quote(ctx), position, retry_ids)
        retry_ids = []
        if chunk.empty:
            break
        checked = validate_chunk(quote(ctx), quote(chunk.rows), "push")
        counts.add(push_chunk(quote(ctx), quote(chunk), live_options, quote(checked.failures), run_id))
        ctx.report("push", chunk.read)
        if chunk.cursor is None:
            break
        position = chunk.cursor
    return counts


def run_object(
    ctx: RunContext, mode: str = "sync", since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Pull then push one object as its effective directions allow; returns the run's counts."""
    logger = get_run_logger()
    plan = ctx.plan
    run_id = uuid.uuid4().hex
    ctx.store.state.start_run(run_id, ctx.scope, mode, flow_run_id=str(flow_run.get_id() or "") or None)
    pulled, pushed = pull.PullCounts(), push.PushCounts()
    try:
        if plan.pull_fields:
            pulled = _pull(ctx, run_id, since, until)
        if plan.push_fields and mode == "sync":
            pushed = _push(ctx, run_id)
    except Exception as exc:
        ctx.store.state.finish_run(
            run_id, "failed", {}, message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        )
        raise
    counts = summarize(pulled, pushed)
    ctx.store.state.finish_run(run_id, "completed", counts)
    logger.info("%s: %s", plan.label, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return {
        "object": plan.cs_object,
        "external_object": plan.external_object,
        "status": "completed",
        **counts,
    }


@flow(name="crmsync-object", flow_run_name="{integration} · {cs_object}")
def sync_object(
    integration: str,
    cs_object: str,
    mode: str = "sync",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """One integration × object: pull changes from the CRM, then push ClientSuccess changes."""
    from crmsync.store import Store

    ctx = open_context(Store(), integration, cs_object)
    if not ctx.integration.enabled:
        get_run_logger().info("%s skipped: the integration is paused (global toggle off)", ctx.plan.label)
        return {"object": cs_object, "status": "skipped"}
    return run_object(ctx, mode, since, until)


@flow(name="crmsync-integration", flow_run_name="{integration}")
def sync_integration(
    integration: str,
    objects: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Pull now: every object of one integration that is not disabled, in dependency order.

    With ``since`` it is a backfill: a re-pull of that window that pushes nothing.
    """
    from crmsync.store import Store

    logger = get_run_logger()
    store = Store()
    row = store.settings.integration(integration)
    if not row.enabled:
        logger.info(
            "%s skipped: the integration is paused (global toggle off); nothing was read or written",
            integration,
        )
        publish_artifact(integration, [], skipped=True)
        return {"integration": integration, "status": "skipped", "objects": []}
    for name in objects or []:
        store.settings.object_setting(integration, name)  # unknown names fail before any work
    settings = {s.cs_object: s for s in store.settings.object_settings(integration)}
    for cs_object in CS_OBJECTS:  # configuration errors surface before any API call
        if settings[cs_object].direction != "disabled" and (not objects or cs_object in objects):
            open_context(store, integration, cs_object)
    results = []
    for cs_object in CS_OBJECTS:
        if objects and cs_object not in objects:
            continue
        if settings[cs_object].direction == "disabled":
            results.append({"object": cs_object, "status": "disabled"})
            continue
        mode = "backfill" if since else "sync"
        results.append(sync_object(integration, cs_object, mode=mode, since=since, until=until))
    store.settings.record_pull(integration, utcnow())
    publish_artifact(integration, results)
    return {"integration": integration, "status": "completed", "objects": results}
