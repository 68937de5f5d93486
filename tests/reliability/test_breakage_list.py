"""Issue 10's breakage list, the bullets no other test file held: each as it must behave now."""

from __future__ import annotations

import re

from sqlmodel import select

from crmsync import page
from crmsync.models import SyncRun
from crmsync.store import Store
from crmsync.sync.report import markdown
from flows.sync import sync_object


def test_the_run_artifact_points_to_a_quarantine_command_that_exists():
    from crmsync.cli.app import app

    text = markdown("hub-2", [{"object": "clients", "status": "completed"}], ["status 'x' …"], False)
    commands = set(re.findall(r"`crmsync (\w+) hub-2", text))
    assert commands == {"quarantine"}
    assert {c.name or c.callback.__name__ for c in app.registered_commands} >= commands


def test_a_disabled_object_run_through_its_deployment_says_disabled(crmsync_home, prefect_api, monkeypatch):
    """The object's deployment is paused, and a run started from it anyway (as a person can)
    ends Completed, named Disabled, having read and written nothing."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from crmsync.deploy import reconcile, remove_deployments

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)  # deployments need a server, not an ephemeral API
    store = Store()
    page.connect(store, "hubspot")  # no CRM is reachable: a run that read anything would fail
    store.settings.set_direction("hubspot", "clients", "disabled")
    reconcile(store)
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("crmsync-object/hubspot-clients")
            run = client.create_flow_run_from_deployment(deployment.id)
        result = run_flow(sync_object, flow_run=run, parameters=run.parameters)
        with get_client(sync_client=True) as client:
            final = client.read_flow_run(run.id).state
    finally:
        remove_deployments("hubspot")
    assert deployment.paused
    assert result["status"] == "disabled"
    assert (final.type.value, final.name, final.message) == (
        "COMPLETED",
        "Disabled",
        "the object is disabled",
    )
    with store.session() as s:
        assert s.exec(select(SyncRun)).all() == []
