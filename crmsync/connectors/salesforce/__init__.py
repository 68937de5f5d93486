"""Salesforce: Accounts, Contacts and Opportunities through the official ``simple-salesforce`` SDK.

``settings`` holds the API facts (batch sizes, the bulk threshold, the external-id and cursor
fields), ``soql`` builds queries safely and converts values, ``client`` wraps the SDK with
timeouts and Salesforce's error table, ``reads`` pages REST queries and Bulk query jobs,
``writes`` sends sObject Collections calls or a Bulk ingest job, and ``connector`` implements
the ``Connector`` interface on top.

Credentials: ``SALESFORCE_INSTANCE_URL`` + ``SALESFORCE_ACCESS_TOKEN``, or ``SALESFORCE_USERNAME``
+ ``SALESFORCE_PASSWORD`` + ``SALESFORCE_SECURITY_TOKEN`` (a SOAP login at ``SALESFORCE_INSTANCE_URL``
when set, else at login.salesforce.com). TLS trust follows ``REQUESTS_CA_BUNDLE``.

Importing the package (or ``settings``, which the connector registry reads) loads no SDK: the
names below that need it are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from crmsync.connectors.salesforce.settings import (
    API_VERSION,
    BULK_THRESHOLD_ENV,
    COLLECTION_BATCH_SIZE,
    CURSOR_FIELD,
    DEFAULT_BULK_THRESHOLD,
    EXTERNAL_ID_FIELD,
    PARENT_FIELD,
    QUERY_BATCH_SIZE,
)

if TYPE_CHECKING:
    from crmsync.connectors.salesforce.connector import SalesforceConnector
    from crmsync.connectors.salesforce.soql import build_soql, soql_datetime, soql_literal

_LAZY = {
    "SalesforceConnector": "crmsync.connectors.salesforce.connector",
    "build_soql": "crmsync.connectors.salesforce.soql",
    "soql_datetime": "crmsync.connectors.salesforce.soql",
    "soql_literal": "crmsync.connectors.salesforce.soql",
}

__all__ = [
    "API_VERSION",
    "BULK_THRESHOLD_ENV",
    "COLLECTION_BATCH_SIZE",
    "CURSOR_FIELD",
    "DEFAULT_BULK_THRESHOLD",
    "EXTERNAL_ID_FIELD",
    "PARENT_FIELD",
    "QUERY_BATCH_SIZE",
    "SalesforceConnector",
    "build_soql",
    "soql_datetime",
    "soql_literal",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
