"""The sync flows. Each composes the run path's steps as Prefect tasks (one "pull chunk" task run
per pulled chunk, the push steps per pushed chunk); the loops and the decisions live in
``crmsync.sync``.

``sync_integration`` checks the global toggle, then runs each object that is not disabled,
in dependency order (clients, contacts, subscriptions), as a task run named for the pair
(``hubspot · contacts``) with the object's steps nested in it. ``sync_object`` runs one object
as a flow of its own (the per-object deployments). Objects are task runs, not subflows, inside
an integration run: a subflow costs ~1 s of Prefect bookkeeping (a flow run created over the
API, its heartbeat thread joined at exit), three times per "pull now".
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

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


def _said(result: dict[str, Any]) -> Any:
    """The run's result; a run that did nothing by design (a disabled object, a paused
    integration) ends in a Completed state named for why (``Disabled``, ``Skipped``), so the
    Prefect UI and API say so, not just "Completed". A caller of the flow still gets the result."""
    status = result["status"]
    if status not in ("disabled", "skipped"):
        return result
    from prefect.states import Completed

    return Completed(data=result, name=status.capitalize(), message=_why(status))


def run_trigger() -> str:
    """What started this run: a ``trigger`` parameter, else the deployment's schedule, else a person."""
    given = flow_run.parameters.get("trigger")
    if given:
        return str(given)
    from prefect.runtime import deployment

    run_id = flow_run.get_id()
    if not run_id or not deployment.get_id():
        return "pull now"
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return "scheduled" if client.read_flow_run(run_id).auto_scheduled else "pull now"


def _run_kind() -> str:
    """The run-kind tag of a sync: ``scheduled`` or ``pull-now``."""
    return "scheduled" if run_trigger() == "scheduled" else "pull-now"


def _object_run_name() -> str:
    params = flow_run.parameters
    return f"{params['integration']} · {params['cs_object']} · {run_trigger()}"


def _integration_run_name() -> str:
    return f"{flow_run.parameters['integration']} · {run_trigger()}"


@flow(name="crmsync-object", flow_run_name=_object_run_name, timeout_seconds=flow_timeout())
def sync_object(integration: str, cs_object: str, trigger: str | None = None) -> dict[str, Any]:
    """One integration × object: pull changes from the CRM, then push ClientSuccess changes.

    The run holds the object's run lock (``crmsync.store.locks``) while it works, so it never
    writes at the same time as a backfill of the same object. Backfills are ``crmsync-backfill``.
    """
    from crmsync.store import Store

    ctx = open_context(Store(), integration, cs_object)
    tag_this_run(integration, cs_object, _run_kind())
    return _said(_run(ctx, None))


def tag_this_run(*names: str) -> None:
    """Add tags to this flow run itself (one API call). Task runs stay untagged: a tagged task
    run asks the API for its tags' concurrency slots, a write that a SQLite-backed Prefect
    server can refuse with 503 while it stores events (then the client waits ~2 s to retry)."""
    run_id = flow_run.get_id()
    if not run_id:
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(run_id, tags=sorted({*flow_run.get_tags(), *names}))


@flow(name="crmsync-integration", flow_run_name=_integration_run_name, timeout_seconds=flow_timeout())
def sync_integration(
    integration: str, objects: list[str] | None = None, trigger: str | None = None
) -> dict[str, Any]:
    """Pull now (or scheduled): every object of one integration that is not disabled, in dependency order."""
    from crmsync.store import Store

    store = Store()
    row = store.settings.integration(integration)
    if skip_reason(row.enabled, "push-pull"):
        get_run_logger().info("%s skipped: %s; nothing was read or written", integration, _why("skipped"))
        publish_artifact(integration, [], skipped=True)
        return _said({"integration": integration, "status": "skipped", "objects": []})
    contexts = _contexts(store, integration, objects)  # configuration errors surface before any API call
    ran = [ctx for ctx in contexts if not isinstance(ctx, dict)]
    tag_this_run(integration, *(ctx.plan.cs_object for ctx in ran), _run_kind())
    results = [
        ctx if isinstance(ctx, dict) else sync_object_task(quote(ctx), ctx.plan.label) for ctx in contexts
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


@task(name="sync object", task_run_name="{label}", cache_policy=NO_CACHE)
def sync_object_task(ctx: RunContext, label: str) -> dict[str, Any]:
    """One integration × object inside an integration run, holding the object's lock (as sync_object)."""
    return _run(ctx, None)  # run_object holds the object's run lock
