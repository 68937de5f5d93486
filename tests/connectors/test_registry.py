"""The connector registry: one entry per kind, built from each connector's own API facts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crmsync import settings
from crmsync.connectors import key_field, open_connector, registry
from crmsync.connectors.base import Connector
from crmsync.connectors.hubspot import settings as hubspot_settings
from crmsync.connectors.salesforce import settings as salesforce_settings
from tests.fixtures.salesforce import FAST_CONNECTOR


def test_the_registry_is_the_one_list_of_kinds() -> None:
    assert settings.KINDS is registry.KINDS
    assert {k: (s.name, s.header) for k, s in registry.KINDS.items()} == {
        "hubspot": ("hubspot", "HubSpot"),
        "salesforce": ("salesforce", "Salesforce"),
    }
    # The objects are the connectors' own constants, not a second copy.
    assert registry.KINDS["hubspot"].external_objects is hubspot_settings.OBJECTS
    assert registry.KINDS["salesforce"].external_objects is salesforce_settings.OBJECTS
    assert registry.KINDS["hubspot"].parents == {"contacts": "companies", "deals": "companies"}
    assert registry.KINDS["salesforce"].parents == {"Contact": "Account", "Opportunity": "Account"}


def test_key_fields_by_kind_and_object() -> None:
    assert key_field("hubspot", "companies") == key_field("hubspot", "deals") == "clientsuccess_id"
    assert key_field("hubspot", "contacts") is None  # HubSpot keys contacts by email
    assert {key_field("salesforce", o) for o in salesforce_settings.OBJECTS} == {"ClientSuccess_Id__c"}
    with pytest.raises(ValueError, match="no connector for kind 'pipedrive'"):
        open_connector("pipedrive")


def test_importing_settings_and_the_registry_loads_no_sdk() -> None:
    code = (
        "import sys, crmsync.settings, crmsync.connectors.registry, crmsync.connectors.salesforce;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'hubspot', 'simple_salesforce', 'tenacity', 'requests', 'urllib3'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_open_builds_each_kind_from_the_environment(hubspot_sandbox, salesforce_sandbox) -> None:
    hubspot = registry.KINDS["hubspot"].open()
    salesforce = registry.KINDS["salesforce"].open(**FAST_CONNECTOR)
    for kind, connector in (("hubspot", hubspot), ("salesforce", salesforce)):
        assert isinstance(connector, Connector) and connector.kind == kind
    assert hubspot_sandbox.url in hubspot.check() and "daily API requests left" in salesforce.check()
