"""``crmsync deploy`` makes Prefect's deployments match the stored settings."""

from prefect.client.orchestration import get_client

from crmsync import page
from crmsync.deploy import desired_deployments, reconcile, remove_deployments
from crmsync.store import Store


def test_desired_deployments_follow_settings(crmsync_home):
    store = Store()
    page.connect(store, "hubspot")
    store.settings.set_schedule("hubspot", "15m")
    store.settings.set_direction("hubspot", "subscriptions", "disabled")
    specs = {spec.full_name: spec for spec in desired_deployments(store)}
    assert sorted(specs) == [
        "crmsync-audit/hubspot-audit",
        "crmsync-backfill/hubspot-clients-backfill",
        "crmsync-backfill/hubspot-contacts-backfill",
        "crmsync-backfill/hubspot-subscriptions-backfill",
        "crmsync-integration/hubspot",
        "crmsync-object/hubspot-clients",
        "crmsync-object/hubspot-contacts",
        "crmsync-object/hubspot-subscriptions",
        "crmsync-preview/hubspot-preview",
    ]
    assert specs["crmsync-integration/hubspot"].interval_seconds == 900
    assert specs["crmsync-object/hubspot-subscriptions"].paused
    assert not specs["crmsync-object/hubspot-clients"].paused
    backfill = specs["crmsync-backfill/hubspot-clients-backfill"]
    assert backfill.interval_seconds is None  # a backfill is never scheduled
    assert backfill.parameters == {"integration": "hubspot", "cs_object": "clients"}
    assert "backfill" in backfill.tags
    preview = specs["crmsync-preview/hubspot-preview"]
    assert preview.interval_seconds is None  # a preview runs when someone asks for it
    assert preview.parameters == {"integration": "hubspot"} and not preview.paused
    store.settings.set_enabled("hubspot", False)
    assert all(spec.paused for spec in desired_deployments(store))


def test_reconcile_on_a_server(crmsync_home, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    store = Store()
    page.connect(store, "hubspot")
    page.connect(store, "salesforce", "salesforce-eu")
    store.settings.set_schedule("hubspot", "30m")
    store.settings.set_enabled("salesforce-eu", False)
    reconcile(store)

    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments() if "crmsync" in (d.tags or [])}
    assert len(deployments) == 18
    hubspot = deployments["hubspot"]
    assert [s.schedule.interval.total_seconds() for s in hubspot.schedules] == [1800]
    assert not hubspot.paused
    assert deployments["salesforce-eu"].paused
    assert deployments["salesforce-eu"].schedules == []
    assert all(d.global_concurrency_limit.limit == 1 for d in deployments.values())

    page.delete(store, "salesforce-eu")
    assert len(remove_deployments("salesforce-eu")) == 9  # what `crmsync delete` does with a server
    reconcile(store)
    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments() if "crmsync" in (d.tags or [])}
    objects = ("clients", "contacts", "subscriptions")
    assert names == {"hubspot", "hubspot-audit", "hubspot-preview"} | {f"hubspot-{o}" for o in objects} | {
        f"hubspot-{o}-backfill" for o in objects
    }


def _ours(client) -> dict:
    return {d.name: d for d in client.read_deployments() if "crmsync" in (d.tags or [])}


def test_deployments_carry_the_store_and_home_but_no_secret(crmsync_home, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "secret-token-never-deployed")
    store = Store()
    page.connect(store, "hubspot", "jobvars")
    reconcile(store)
    with get_client(sync_client=True) as client:
        deployment = _ours(client)["jobvars"]
    env = deployment.job_variables["env"]
    assert env == {
        "CRMSYNC_DATABASE_URL": f"sqlite:///{crmsync_home / 'crmsync.db'}",
        "CRMSYNC_HOME": str(crmsync_home / ".crmsync"),
    }
    assert "secret-token" not in str(deployment.job_variables)
    page.delete(store, "jobvars")
    reconcile(store)


def test_deploy_from_another_store_removes_nothing_it_does_not_know(crmsync_home, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    store = Store()
    page.connect(store, "hubspot", "kept")
    reconcile(store)
    other = Store(f"sqlite:///{crmsync_home / 'other.db'}")  # e.g. deploy run from another directory
    lines = reconcile(other)
    with get_client(sync_client=True) as client:
        assert "kept" in _ours(client)
    assert any("kept" in line and "unknown" in line for line in lines)
    page.delete(store, "kept")  # a tombstone: now the deployments may go
    reconcile(store)
    with get_client(sync_client=True) as client:
        assert not [n for n in _ours(client) if n.startswith("kept")]


def test_dry_run_says_what_it_would_do_and_does_nothing(crmsync_home, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    store = Store()
    page.connect(store, "hubspot", "dry")
    with get_client(sync_client=True) as client:
        before = set(_ours(client))
    lines = reconcile(store, dry_run=True)
    assert "would create crmsync-integration/dry: manual" in lines
    with get_client(sync_client=True) as client:
        assert set(_ours(client)) == before
    page.delete(store, "dry")


def test_show_reads_the_next_pull_from_prefects_schedule(crmsync_home, prefect_api, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from prefect.states import Scheduled

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    store = Store()
    page.connect(store, "hubspot", "scheduled")
    store.settings.set_schedule("scheduled", "30m")
    reconcile(store)
    stored = store.settings.integration("scheduled").next_pull_at
    assert page.page(store, "scheduled")["next_pull"] == stored.isoformat(timespec="seconds")  # none yet

    # What Prefect's scheduler does on a server: the deployment's next runs, in the Scheduled state.
    at = (datetime.now(UTC) + timedelta(minutes=7)).replace(microsecond=0)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("crmsync-integration/scheduled")
        for minutes in (0, 30):
            client.create_flow_run_from_deployment(
                deployment.id, state=Scheduled(scheduled_time=at + timedelta(minutes=minutes))
            )
    assert page.page(store, "scheduled")["next_pull"] == at.isoformat(timespec="seconds")

    store.settings.set_schedule("scheduled", "manual")  # no schedule: nothing is next
    reconcile(store)
    assert page.page(store, "scheduled")["next_pull"] is None
