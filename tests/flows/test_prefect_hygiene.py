"""Prefect hygiene: flow timeouts, the failure automation, and paused integrations run as skipped."""

from __future__ import annotations

import os
import subprocess
import sys

from prefect.client.orchestration import get_client

from crmsync import page
from crmsync.config import FLOW_TIMEOUT_SECONDS
from crmsync.models import SyncRun
from crmsync.notify import AUTOMATION, ensure_failure_automation
from crmsync.store import Store
from flows.sync import sync_integration, sync_object


def test_the_flows_have_a_timeout_set_by_the_environment():
    assert sync_integration.timeout_seconds == sync_object.timeout_seconds == FLOW_TIMEOUT_SECONDS
    code = "from flows.sync import sync_object as f; print(f.timeout_seconds)"
    env = {**os.environ, "CRMSYNC_FLOW_TIMEOUT": "90"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "90.0"


def test_deploy_keeps_one_failure_automation(prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("CRMSYNC_NOTIFY_BLOCK", raising=False)
    ensure_failure_automation()
    assert "no block set" in ensure_failure_automation()  # run twice: still one
    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(AUTOMATION)
    trigger = automation.trigger
    assert set(trigger.expect) == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.TimedOut",
    }
    assert trigger.match_related.root == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": "prefect.tag.crmsync",
    }
    assert [a.type for a in automation.actions] == ["do-nothing"]


def test_the_failure_automation_notifies_the_named_block(prefect_api, monkeypatch):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    CustomWebhookNotificationBlock(name="ops", url="http://127.0.0.1:9/hook").save(
        "crmsync-ops", overwrite=True
    )
    monkeypatch.setenv("CRMSYNC_NOTIFY_BLOCK", "custom-webhook/crmsync-ops")
    assert "notify custom-webhook/crmsync-ops" in ensure_failure_automation()
    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(AUTOMATION)
    assert [a.type for a in automation.actions] == ["send-notification"]


def test_a_paused_integrations_object_run_is_skipped_and_reads_nothing(crmsync_home, prefect_api):
    store = Store()
    page.connect(store, "hubspot")
    store.settings.set_enabled("hubspot", False)
    assert sync_object("hubspot", "clients")["status"] == "skipped"
    assert sync_integration("hubspot")["status"] == "skipped"
    with store.session() as s:
        assert s.query(SyncRun).count() == 0


def test_tags_sit_on_the_flow_run_and_no_task_run_carries_any(
    crmsync_home, prefect_api, hubspot_sandbox_factory, monkeypatch
):
    """Tags name a run's integration, objects and kind on the flow run. No task run carries any:
    each tagged task run asks the API for its tags' concurrency slots, a write that a SQLite-backed
    Prefect server can refuse with 503 (then the client waits ~2 s before it retries)."""
    from crmsync.sandbox.hubspot import DEFAULT_TOKEN

    sandbox = hubspot_sandbox_factory(companies=5)
    monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", DEFAULT_TOKEN)
    store = Store()
    page.connect(store, "hubspot")
    state = sync_integration("hubspot", ["clients"], return_state=True)
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        flow_tags = set(client.read_flow_run(run_id).tags)
    assert {run.name: run.tags for run in runs if run.tags} == {}
    assert {"hubspot", "clients", "pull-now"} <= flow_tags and "contacts" not in flow_tags
    assert len(runs) > 3  # the steps ran as task runs of their own
