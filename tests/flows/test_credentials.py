"""Credentials come from the environment, else from Prefect Secret blocks of the same name."""

from prefect.blocks.system import Secret

from crmsync import secrets
from crmsync.connectors import open_connector


def test_connector_reads_prefect_secret_blocks_when_the_environment_has_none(
    prefect_api, hubspot_sandbox, monkeypatch
):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    token, base_url = secrets.get("HUBSPOT_ACCESS_TOKEN"), secrets.get("HUBSPOT_BASE_URL")
    Secret(value=token).save("hubspot-access-token", overwrite=True)
    Secret(value=base_url).save("hubspot-base-url", overwrite=True)
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    monkeypatch.delenv("HUBSPOT_BASE_URL")
    hubspot_sandbox.app.reset_counters()

    connector = open_connector("hubspot")

    assert connector.check()
    assert sum(hubspot_sandbox.app.counters.values()) == 1
    assert token not in repr(connector)

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-from-the-environment")  # the environment wins
    assert secrets.get_secret("HUBSPOT_ACCESS_TOKEN").reveal() == "pat-from-the-environment"


def test_no_block_and_no_variable_is_none(prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("SALESFORCE_USERNAME", raising=False)
    assert secrets.get_secret("SALESFORCE_USERNAME") is None
    assert secrets.block_name("SALESFORCE_SECURITY_TOKEN") == "salesforce-security-token"
