"""Local HubSpot (HTTP) and Salesforce (HTTPS) API servers that speak the real wire formats.

The demo and the tests point the connectors at them through the same environment variables
a real installation uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Sandboxes:
    """Both sandbox CRMs, running, and the environment that points crmsync at them."""

    hubspot: object
    salesforce: object
    env: dict[str, str]

    def stop(self) -> None:
        self.hubspot.stop()
        self.salesforce.stop()


def start_sandboxes(
    companies: int,
    contacts: int,
    deals: int,
    ca_file: Path | None = None,
    hubspot_port: int = 0,
    salesforce_port: int = 0,
) -> Sandboxes:
    """Seed and serve both CRMs with the same sizes for each; returns the variables to export."""
    from crmsync.sandbox.hubspot import DEFAULT_TOKEN, start_hubspot
    from crmsync.sandbox.salesforce import start_salesforce

    hubspot = start_hubspot(companies=companies, contacts=contacts, deals=deals, port=hubspot_port)
    salesforce = start_salesforce(companies, contacts, deals, ca_file=ca_file, port=salesforce_port)
    env = {"HUBSPOT_BASE_URL": hubspot.url, "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN, **salesforce.env()}
    return Sandboxes(hubspot, salesforce, env)
