"""HubSpot: companies, contacts and deals through the official ``hubspot-api-client`` SDK.

``settings`` holds the API facts (page sizes, batch limits, cursor fields), ``client`` the SDK
with retries and secret-free errors, ``changes`` the search-based change reader, ``writes``
the batch writer, and ``connector`` the ``Connector`` interface that ties them together.

Importing the package (or ``settings``, which the connector registry reads) loads no SDK: the
connector is imported on first use of ``HubSpotConnector``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmsync.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]


def __getattr__(name: str) -> Any:
    if name == "HubSpotConnector":
        from crmsync.connectors.hubspot.connector import HubSpotConnector

        return HubSpotConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
