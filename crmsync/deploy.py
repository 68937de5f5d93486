"""Prefect deployments that mirror the stored settings: one per integration and per object.

The integration's deployment carries the pull schedule (an interval, none for manual) and runs
its objects in dependency order; each object also has its own deployment for a one-object
"pull now", and a backfill deployment (``crmsync-backfill``, never scheduled: its run asks for
the dates). Each integration also has a parity audit and a sync preview (``crmsync-preview``,
which writes nothing and publishes table artifacts). Every deployment has a concurrency limit of 1,
so runs never overlap, and is paused while the integration's toggle is off (or, for an object,
while it is disabled).
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmsync import config
from crmsync.errors import CrmsyncError
from crmsync.notify import ensure_failure_automation
from crmsync.settings import SCHEDULES, skip_reason
from crmsync.store import Store
from crmsync.store.engine import describe

if TYPE_CHECKING:
    from datetime import datetime

INTEGRATION_FLOW = "crmsync-integration"
OBJECT_FLOW = "crmsync-object"
BACKFILL_FLOW = "crmsync-backfill"
AUDIT_FLOW = "crmsync-audit"
PREVIEW_FLOW = "crmsync-preview"
ENTRYPOINTS = {
    INTEGRATION_FLOW: "flows/sync.py:sync_integration",
    OBJECT_FLOW: "flows/sync.py:sync_object",
    BACKFILL_FLOW: "flows/backfill.py:backfill",
    AUDIT_FLOW: "flows/audit.py:audit_integration",
    PREVIEW_FLOW: "flows/preview.py:preview_sync",
}
TAG = "crmsync"


def work_pool() -> str:
    """The process work pool the deployments run on (``CRMSYNC_WORK_POOL``, default crmsync)."""
    return os.environ.get("CRMSYNC_WORK_POOL", "crmsync")


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as the settings say it should be."""

    flow: str
    name: str
    parameters: dict[str, Any]
    interval_seconds: int | None
    paused: bool
    tags: tuple[str, ...] = field(default=(TAG,))

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


def desired_deployments(store: Store) -> list[DeploymentSpec]:
    """Every deployment the stored settings call for; pure, so it is tested without Prefect."""
    specs = []
    for integration in store.settings.integrations():
        minutes = SCHEDULES[integration.schedule]
        specs.append(
            DeploymentSpec(
                flow=INTEGRATION_FLOW,
                name=integration.name,
                parameters={"integration": integration.name},
                interval_seconds=minutes * 60 if minutes else None,
                paused=not integration.enabled,
                tags=(TAG, integration.name),
            )
        )
        for setting in store.settings.object_settings(integration.name):
            specs.append(
                DeploymentSpec(
                    flow=OBJECT_FLOW,
                    name=f"{integration.name}-{setting.cs_object}",
                    parameters={"integration": integration.name, "cs_object": setting.cs_object},
                    interval_seconds=None,
                    paused=skip_reason(integration.enabled, setting.direction) is not None,
                    tags=(TAG, integration.name),
                )
            )
            specs.append(_backfill_spec(integration, setting.cs_object, setting.direction))
        specs.append(_on_demand_spec(AUDIT_FLOW, "audit", integration.name, integration.enabled))
        specs.append(_on_demand_spec(PREVIEW_FLOW, "preview", integration.name, integration.enabled))
    return specs


def _backfill_spec(integration: Any, cs_object: str, direction: str) -> DeploymentSpec:
    """A backfill deployment: never scheduled; its run asks for ``since`` (and ``until``, ``window``)."""
    return DeploymentSpec(
        flow=BACKFILL_FLOW,
        name=f"{integration.name}-{cs_object}-backfill",
        parameters={"integration": integration.name, "cs_object": cs_object},
        interval_seconds=None,
        paused=skip_reason(integration.enabled, direction) is not None,
        tags=(TAG, integration.name, cs_object, "backfill"),
    )


def _on_demand_spec(flow: str, kind: str, integration: str, enabled: bool) -> DeploymentSpec:
    """An integration's audit or preview: run on demand from the Prefect UI (an audit may be given
    its own schedule there), paused with the toggle."""
    return DeploymentSpec(
        flow=flow,
        name=f"{integration}-{kind}",
        parameters={"integration": integration},
        interval_seconds=None,
        paused=not enabled,
        tags=(TAG, integration) if kind == "audit" else (TAG, integration, kind),
    )


def _require_server() -> None:
    if not os.environ.get("PREFECT_API_URL"):
        raise CrmsyncError(
            "deployments need a Prefect server: run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def job_env(store: Store) -> dict[str, str]:
    """The environment every deployment's runs get: this store and this home, never a secret."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).absolute()))  # a worker runs elsewhere
    url = url.set(password=None)  # workers get it from PGPASSWORD or .pgpass, not from Prefect
    return {
        "CRMSYNC_DATABASE_URL": url.render_as_string(hide_password=False),
        "CRMSYNC_HOME": str(config.home().absolute()),
    }


def _describe(spec: DeploymentSpec) -> str:
    every = f"every {spec.interval_seconds // 60} min" if spec.interval_seconds else "manual"
    return f"{spec.full_name}: {every}{', paused' if spec.paused else ''}"


def _existing() -> dict[str, Any]:
    """crmsync's deployments on the server, by full name (flow/deployment)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ours = [d for d in client.read_deployments() if TAG in (d.tags or [])]
        flows = {d.flow_id: client.read_flow(d.flow_id).name for d in ours}
    return {f"{flows[d.flow_id]}/{d.name}": d for d in ours}


def _apply(spec: DeploymentSpec, env: dict[str, str]) -> None:
    from prefect import Flow

    flow = Flow.from_source(source=str(config.PROJECT_ROOT), entrypoint=ENTRYPOINTS[spec.flow])
    flow.deploy(
        name=spec.name,
        work_pool_name=work_pool(),
        build=False,
        push=False,
        interval=spec.interval_seconds,
        paused=spec.paused,
        concurrency_limit=1,
        parameters=spec.parameters,
        tags=list(spec.tags),
        job_variables={"env": env},
        print_next_steps=False,
        ignore_warnings=True,
    )


def _leftovers(store: Store, existing: dict[str, Any], wanted: set[str], dry_run: bool) -> list[str]:
    """Remove deployments no longer wanted, but only of integrations this store knows or deleted."""
    from prefect.client.orchestration import get_client

    known = {row.name for row in store.settings.integrations()} | store.settings.deleted_names()
    lines = []
    with get_client(sync_client=True) as client:
        for full_name, deployment in existing.items():
            owner = (deployment.parameters or {}).get("integration")
            if full_name in wanted:
                continue
            if owner not in known:
                lines.append(
                    f"kept {full_name}: integration '{owner}' is unknown to this store "
                    f"({describe(store.engine.url)}); delete it through the store that has it"
                )
            elif dry_run:
                lines.append(f"would remove {full_name}")
            else:
                client.delete_deployment(deployment.id)
                lines.append(f"{full_name}: removed")
    return lines


def reconcile(store: Store, dry_run: bool = False) -> list[str]:
    """Create, update, pause or remove deployments so Prefect matches the stored settings.

    A deployment of an integration this store does not know is kept (it may be another store's);
    one of an integration deleted through crmsync (a tombstone) is removed. ``dry_run`` only says.
    """
    _require_server()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    if not dry_run:
        with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=work_pool(), type="process"))
    existing, env, lines = _existing(), job_env(store), []
    specs = desired_deployments(store)
    for spec in specs:
        if dry_run:
            verb = "update" if spec.full_name in existing else "create"
            lines.append(f"would {verb} {_describe(spec)}")
        else:
            _apply(spec, env)
            lines.append(_describe(spec))
    lines += _leftovers(store, existing, {spec.full_name for spec in specs}, dry_run)
    if not dry_run:
        lines.append(ensure_failure_automation())
    return lines


def remove_deployments(integration: str) -> list[str]:
    """Delete an integration's deployments from the Prefect server (part of deleting it)."""
    _require_server()
    from prefect.client.orchestration import get_client

    removed = []
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if TAG in (deployment.tags or []) and deployment.parameters.get("integration") == integration:
                client.delete_deployment(deployment.id)
                removed.append(f"{deployment.name}: removed")
    return removed


def run_deployment(integration: str, cs_object: str | None = None) -> str:
    """Start a run of the integration's (or one object's) deployment on the server; don't wait."""
    _require_server()
    from prefect.deployments import run_deployment as start

    name = f"{OBJECT_FLOW}/{integration}-{cs_object}" if cs_object else f"{INTEGRATION_FLOW}/{integration}"
    flow_run = start(name=name, timeout=0)
    return (
        f"started {name}: flow run {flow_run.name} ({flow_run.id}); a worker on pool '{work_pool()}' runs it"
    )


def scheduled_next_pull(integration: str) -> datetime | None:
    """When Prefect will next run the integration's deployment on its schedule, if a server has one.

    ``crmsync show`` and the page then say what Prefect will do, not a time computed from the last
    pull. None without a configured server (or with crmsync's own temporary one), without the
    deployment, or while it is paused (no scheduled run); the stored time is shown instead.
    """
    if not os.environ.get("PREFECT_API_URL") or os.environ.get("CRMSYNC_LOCAL_PREFECT_API"):
        return None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"{INTEGRATION_FLOW}/{integration}")
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
    except Exception:  # no such deployment, or the server is unreachable: show the stored time
        return None
    return runs[0].expected_start_time if runs else None
