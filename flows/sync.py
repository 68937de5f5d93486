"""The sync flows. Each composes the run path's steps as Prefect tasks: extract, transform,
validate, load; the loops and the decisions live in ``crmsync.sync``.

``sync_integration`` checks the global toggle, then runs each object that is not disabled,
in dependency order (clients, contacts, subscriptions), as a subflow named for the pair,
so every integration × object is its own run in the Prefect UI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from crmsync.config import flow_timeout
from crmsync.models import utcnow
from crmsync.settings import skip_reason
from crmsync.sync.context import RunContext, open_context
from crmsync.sync.report import publish_artifact
from crmsync.sync.runner import Window, run_object
from tasks import STEPS


def _run(ctx: RunContext, window: Window | None) -> dict[str, Any]:
    result = run_object(ctx, STEPS, window, flow_run_id=str(flow_run.get_id() or "") or None)
    logger = get_run_logger()
    if result["status"] == "completed":
        counts = ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int))
        logger.info("%s: %s", ctx.plan.label, counts)
    else:
        logger.info("%s: %s (%s)", ctx.plan.label, result["status"], _why(result["status"]))
    return result


def _why(status: str) -> str:
    if status == "skipped":
        return "the integration is paused (global toggle off)"
    return "the object is disabled"


def _window(since: datetime | None, until: datetime | None) -> Window | None:
    return Window(since, until) if since else None


@flow(name="crmsync-object", flow_run_name="{integration} · {cs_object}", timeout_seconds=flow_timeout())
def sync_object(
    integration: str,
    cs_object: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """One integration × object: pull changes from the CRM, then push ClientSuccess changes.

    With ``since`` it is a backfill: a re-pull of that window that pushes nothing.
    """
    from crmsync.store import Store

    return _run(open_context(Store(), integration, cs_object), _window(since, until))


@flow(name="crmsync-integration", flow_run_name="{integration}", timeout_seconds=flow_timeout())
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

    store = Store()
    row = store.settings.integration(integration)
    if skip_reason(row.enabled, "push-pull"):
        get_run_logger().info("%s skipped: %s; nothing was read or written", integration, _why("skipped"))
        publish_artifact(integration, [], skipped=True)
        return {"integration": integration, "status": "skipped", "objects": []}
    contexts = _contexts(store, integration, objects)  # configuration errors surface before any API call
    results = [
        ctx if isinstance(ctx, dict) else _object_subflow(integration, ctx.plan.cs_object, since, until)
        for ctx in contexts
    ]
    store.settings.record_pull(integration, utcnow())
    publish_artifact(integration, results)
    return {"integration": integration, "status": "completed", "objects": results}


def _contexts(store: Any, integration: str, objects: list[str] | None) -> list[RunContext | dict[str, Any]]:
    """Each chosen object's run context, in dependency order; a disabled object as its result."""
    for name in objects or []:
        store.settings.object_setting(integration, name)  # unknown names fail before any work
    chosen: list[RunContext | dict[str, Any]] = []
    for setting in store.settings.object_settings(integration):  # clients, contacts, subscriptions
        if objects and setting.cs_object not in objects:
            continue
        reason = skip_reason(True, setting.direction)
        if reason:
            chosen.append({"object": setting.cs_object, "status": reason})
        else:
            chosen.append(open_context(store, integration, setting.cs_object))
    return chosen


def _object_subflow(
    integration: str, cs_object: str, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Run one object as a subflow, without a heartbeat thread of its own.

    The parent flow's heartbeat already covers the process; each subflow's heartbeat thread
    would cost up to a second at exit (Prefect joins it after a 1 s sleep).
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return sync_object(integration, cs_object, since=since, until=until)
