"""Runs say what they are, per CRM: pull now, scheduled (by the deployment's schedule), backfill.

The scheduled run is made by the Prefect server from the deployment's schedule (its
``/deployments/{id}/schedule`` endpoint, what the scheduler service calls) and then executed
by Prefect's flow engine, as a worker would, against the test session's server.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from crmsync import page
from crmsync.store import Store
from flows.backfill import backfill
from flows.sync import sync_integration, sync_object

DAY, NEXT = date(2026, 1, 5), date(2026, 1, 6)
OBJECTS = ("clients", "contacts", "subscriptions")


def _task_runs(client, flow_run_id) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _tags(client, flow_run_id) -> set[str]:
    """A flow run's tags, asserting that none of its task runs carries any (a tagged task run asks
    the API for its tags' concurrency slots; the tags belong on the flow run)."""
    tasks = _task_runs(client, flow_run_id)
    assert tasks and not [(t.name, t.tags) for t in tasks if t.tags]
    return set(client.read_flow_run(flow_run_id).tags)


def test_direct_runs_say_what_they_are(small_crm):
    from prefect.client.orchestration import get_client

    kind = small_crm.kind
    page.connect(Store(), kind)
    ran = [
        sync_object(kind, "clients", return_state=True),
        sync_integration(kind, return_state=True),
        backfill(kind, "clients", DAY, NEXT, "1d", return_state=True),
    ]
    one_object, integration, backfilled = (state.state_details.flow_run_id for state in ran)
    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(run_id) for run_id in (one_object, integration, backfilled)]
        tags = [_tags(client, run_id) for run_id in (one_object, integration, backfilled)]
    assert [run.name for run in runs] == [
        f"{kind} · clients · pull now",
        f"{kind} · pull now",
        f"{kind} · clients · backfill 2026-01-05..2026-01-06",
    ]
    assert {kind, "clients", "pull-now"} <= tags[0]
    assert {kind, *OBJECTS, "pull-now"} <= tags[1]
    assert {kind, "clients", "backfill"} <= tags[2]


def _scheduled_run(client, deployment_id):
    """Have the server make runs from the deployment's schedule (due in the last hour); the first."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    now = datetime.now(UTC)
    body = {"start_time": (now - timedelta(hours=1)).isoformat(), "end_time": now.isoformat(), "max_runs": 1}
    client._client.post(f"/deployments/{deployment_id}/schedule", json=body).raise_for_status()
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )
    due = [r for r in runs if r.auto_scheduled and r.expected_start_time <= now]
    return min(due, key=lambda r: r.expected_start_time)


def test_deployment_runs_say_whether_the_schedule_or_a_person_started_them(small_crm):
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from crmsync.deploy import reconcile, remove_deployments

    kind, store = small_crm.kind, Store()
    page.connect(store, kind)
    store.settings.set_schedule(kind, "5m")
    reconcile(store)
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"crmsync-integration/{kind}")
            scheduled = _scheduled_run(client, deployment.id)
            manual = client.create_flow_run_from_deployment(deployment.id)
        for flow_run in (scheduled, manual):
            assert (
                run_flow(sync_integration, flow_run=flow_run, parameters=flow_run.parameters)["status"]
                == "completed"
            )
        with get_client(sync_client=True) as client:
            names = {
                r.id: r.name for r in (client.read_flow_run(scheduled.id), client.read_flow_run(manual.id))
            }
            scheduled_tags, manual_tags = _tags(client, scheduled.id), _tags(client, manual.id)
    finally:
        remove_deployments(kind)
    assert names == {scheduled.id: f"{kind} · scheduled", manual.id: f"{kind} · pull now"}
    assert {kind, *OBJECTS, "scheduled"} <= scheduled_tags and "pull-now" not in scheduled_tags
    assert {kind, *OBJECTS, "pull-now"} <= manual_tags and "scheduled" not in manual_tags
