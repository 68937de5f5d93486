"""HubSpot: companies, contacts and deals through the official ``hubspot-api-client`` SDK.

``settings`` holds the API facts (page sizes, batch limits, cursor fields), ``client`` the SDK
with retries and secret-free errors, ``changes`` the search-based change reader, ``writes``
the batch writer, and ``connector`` the ``Connector`` interface that ties them together.
"""

from __future__ import annotations

from crmsync.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
