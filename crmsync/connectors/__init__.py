"""The connectors, by kind of CRM. Flows and tasks see only the ``Connector`` interface (base.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmsync.connectors.base import Connector


def open_connector(kind: str) -> Connector:
    """A connector for ``kind`` with credentials from the environment (or Prefect Secret blocks)."""
    if kind == "hubspot":
        from crmsync.connectors.hubspot import HubSpotConnector

        return HubSpotConnector.from_env()
    if kind == "salesforce":
        from crmsync.connectors.salesforce import SalesforceConnector

        return SalesforceConnector.from_env()
    raise ValueError(f"no connector for kind {kind!r}")


def key_field(kind: str, external_object: str) -> str | None:
    """The CRM field that holds the ClientSuccess id of a record we created (None: keyed otherwise)."""
    if kind == "hubspot":
        from crmsync.connectors.hubspot.settings import KEY_PROPERTY

        return KEY_PROPERTY.get(external_object)
    from crmsync.connectors.salesforce import EXTERNAL_ID_FIELD

    return EXTERNAL_ID_FIELD
