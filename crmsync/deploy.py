"""Prefect deployments that mirror the stored settings: one per integration and per object.

The integration's deployment carries the pull schedule (an interval, none for manual) and runs
its objects in dependency order; each object also has its own deployment for a one-object
"pull now". Every deployment has a concurrency limit of 1, so runs never overlap, and is
paused while the integration's toggle is off (or, for an object, while it is disabled).
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from crmsync import config
from crmsync.errors import CrmsyncError
from crmsync.notify import ensure_failure_automation
from crmsync.settings import SCHEDULES, skip_reason
from crmsync.store import Store

INTEGRATION_FLOW = "crmsync-integration"
OBJECT_FLOW = "crmsync-object"
ENTRYPOINTS = {
    INTEGRATION_FLOW: "flows/sync.py:sync_integration",
    OBJECT_FLOW: "flows/sync.py:sync_object",
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
    return specs


def _require_server() -> None:
    if not os.environ.get("PREFECT_API_URL"):
        raise CrmsyncError(
            "deployments need a Prefect server: run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def reconcile(store: Store) -> list[str]:
    """Create, update, pause or remove deployments so Prefect matches the stored settings."""
    _require_server()
    from prefect import Flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    specs = desired_deployments(store)
    with get_client(sync_client=True) as client:
        with suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=work_pool(), type="process"))
        existing = [d for d in client.read_deployments() if TAG in (d.tags or [])]
        flow_names = {d.flow_id: client.read_flow(d.flow_id).name for d in existing}
    lines = []
    wanted = set()
    for spec in specs:
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
            print_next_steps=False,
            ignore_warnings=True,
        )
        wanted.add(spec.full_name)
        every = f"every {spec.interval_seconds // 60} min" if spec.interval_seconds else "manual"
        lines.append(f"{spec.full_name}: {every}{', paused' if spec.paused else ''}")
    with get_client(sync_client=True) as client:
        for deployment in existing:
            if f"{flow_names[deployment.flow_id]}/{deployment.name}" not in wanted:
                client.delete_deployment(deployment.id)
                lines.append(f"{flow_names[deployment.flow_id]}/{deployment.name}: removed")
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
