"""A local HubSpot CRM sandbox that speaks the real v3/v4 wire format over plain HTTP.

``start_hubspot(companies=..., contacts=..., deals=...)`` seeds it deterministically from
``crmsync.sandbox.seed`` and serves it on a free loopback port. Request counters per endpoint
label (``search:companies``, ``batch_upsert:contacts``, ``associations_batch_read`` ...) are in
``running.app.counters`` and at ``/__sandbox__/stats``.
"""

from __future__ import annotations

from crmsync.sandbox.http import Running, serve
from crmsync.sandbox.hubspot.app import DEFAULT_TOKEN, HubSpotApp

__all__ = ["DEFAULT_TOKEN", "HubSpotApp", "start_hubspot"]


def start_hubspot(
    companies: int = 0,
    contacts: int = 0,
    deals: int = 0,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Running:
    """Seed a HubSpot sandbox and serve it in a background thread; ``running.url`` is its base URL."""
    return serve(HubSpotApp(companies=companies, contacts=contacts, deals=deals, token=token), host, port)
