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
        "crmsync-integration/hubspot",
        "crmsync-object/hubspot-clients",
        "crmsync-object/hubspot-contacts",
        "crmsync-object/hubspot-subscriptions",
    ]
    assert specs["crmsync-integration/hubspot"].interval_seconds == 900
    assert specs["crmsync-object/hubspot-subscriptions"].paused
    assert not specs["crmsync-object/hubspot-clients"].paused
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
    assert len(deployments) == 10
    hubspot = deployments["hubspot"]
    assert [s.schedule.interval.total_seconds() for s in hubspot.schedules] == [1800]
    assert not hubspot.paused
    assert deployments["salesforce-eu"].paused
    assert deployments["salesforce-eu"].schedules == []
    assert all(d.global_concurrency_limit.limit == 1 for d in deployments.values())

    page.delete(store, "salesforce-eu")
    assert len(remove_deployments("salesforce-eu")) == 5  # what `crmsync delete` does with a server
    reconcile(store)
    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments() if "crmsync" in (d.tags or [])}
    assert names == {
        "hubspot",
        "hubspot-clients",
        "hubspot-contacts",
        "hubspot-subscriptions",
        "hubspot-audit",
    }
