"""The connectors, by kind of CRM. Flows and tasks see only the ``Connector`` interface (base.py).

``registry.KINDS`` lists the kinds; ``registry.KINDS["hubspot"].open()`` makes a connector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmsync.connectors.registry import KINDS, ConnectorSpec, spec

if TYPE_CHECKING:
    from crmsync.connectors.base import Connector

__all__ = ["KINDS", "ConnectorSpec", "key_field", "open_connector", "spec"]


def open_connector(kind: str) -> Connector:
    """A connector for ``kind`` with credentials from the environment (or Prefect Secret blocks)."""
    return spec(kind).open()


def key_field(kind: str, external_object: str) -> str | None:
    """The CRM field that holds the ClientSuccess id of a record we created (None: keyed otherwise)."""
    return spec(kind).key_field(external_object)
