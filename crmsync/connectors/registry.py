"""Every kind of CRM crmsync connects to, keyed by kind: the one list the store, CLI and runs use.

Each entry is built from its connector's own API facts (``<kind>/settings.py``) and opens the
connector lazily: importing this module loads no SDK, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmsync.connectors.hubspot import settings as hubspot
from crmsync.connectors.salesforce import settings as salesforce

if TYPE_CHECKING:
    from crmsync.connectors.base import Connector


@dataclass(frozen=True)
class ConnectorSpec:
    """A kind of CRM: its display name, its external objects, their key fields and parents."""

    name: str  # the kind, e.g. "hubspot"
    header: str  # how the page names it, e.g. "HubSpot"
    external_objects: tuple[str, ...]  # the objects a CS object can point at, in the CRM's own names
    key_fields: Mapping[str, str]  # object -> the CRM field holding the ClientSuccess id (absent: none)
    parents: Mapping[str, str]  # child object -> parent object (contact -> company)
    connector: str  # "module:Class" of the Connector, imported by open() only
    case_sensitive_enums: bool = False  # an enumeration value must match an option's exact case

    def key_field(self, external_object: str) -> str | None:
        """The CRM field that holds the ClientSuccess id of a record we created (None: keyed otherwise)."""
        return self.key_fields.get(external_object)

    def open(self, **options: Any) -> Connector:
        """A connector with credentials from the environment (or Prefect Secret blocks).

        Its client draws on the account's API budget when one is in force (``crmsync.budgets``).
        """
        from crmsync.budgets import attach

        module, _, cls = self.connector.partition(":")
        connector = getattr(importlib.import_module(module), cls).from_env(**options)
        attach(connector, self.name)
        return connector


KINDS: dict[str, ConnectorSpec] = {
    spec.name: spec
    for spec in (
        ConnectorSpec(
            name="hubspot",
            header="HubSpot",
            external_objects=hubspot.OBJECTS,
            key_fields=hubspot.KEY_PROPERTY,
            parents=hubspot.PARENT_OBJECT,
            connector="crmsync.connectors.hubspot.connector:HubSpotConnector",
            case_sensitive_enums=True,  # HubSpot's API is; Salesforce resolves picklist case itself
        ),
        ConnectorSpec(
            name="salesforce",
            header="Salesforce",
            external_objects=salesforce.OBJECTS,
            key_fields=salesforce.KEY_FIELD,
            parents=salesforce.PARENT_OBJECT,
            connector="crmsync.connectors.salesforce.connector:SalesforceConnector",
        ),
    )
}


def spec(kind: str) -> ConnectorSpec:
    """The registry entry for ``kind``; an unknown kind is a ValueError naming the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"no connector for kind {kind!r} (known: {', '.join(KINDS)})") from None
