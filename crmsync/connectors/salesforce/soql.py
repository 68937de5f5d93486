"""SOQL text built safely, and Salesforce values converted both ways (REST JSON and Bulk CSV)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from simple_salesforce.format import quote_soql_value

from crmsync.connectors.base import ConnectorError, Cursor, ExternalRecord
from crmsync.connectors.salesforce.settings import BULK_NULL, CURSOR_FIELD, DELETED_FIELD

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_name(name: str) -> str:
    """Object and field names go into SOQL and URLs unquoted, so they must be plain API names."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConnectorError(f"not a Salesforce API name: {name!r}")
    return name


def build_soql(obj: str, select: Sequence[str] | None, where: str = "", order: str = "") -> str:
    """SELECT fields (or COUNT()) FROM obj, plus WHERE/ORDER BY text made of checked names and literals."""
    fields = "COUNT()" if select is None else ", ".join(check_name(f) for f in select)
    # Not injectable: names pass check_name, and every value in `where` comes from soql_literal.
    return f"SELECT {fields} FROM {check_name(obj)}{where}{order}"  # noqa: S608


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds (SystemModstamp's precision); naive means UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def soql_literal(value: Any) -> str:
    """A value quoted for SOQL: strings escape backslashes and quotes (simple-salesforce's quoting)."""
    if isinstance(value, datetime):
        return soql_datetime(value)
    return quote_soql_value(value)


def changed_where(since: Cursor, until: datetime | None) -> str:
    """WHERE for "strictly after (modified_at, id)" and "not after until" (empty when unbounded)."""
    parts = []
    if since.modified_at is not None:
        ts = soql_datetime(since.modified_at)
        if since.id:
            after = f"{CURSOR_FIELD} = {ts} AND Id > {soql_literal(since.id)}"
            parts.append(f"({CURSOR_FIELD} > {ts} OR ({after}))")  # SOQL wants parentheses around OR
        else:
            parts.append(f"{CURSOR_FIELD} >= {ts}")
    if until is not None:
        parts.append(f"{CURSOR_FIELD} <= {soql_datetime(until)}")
    return " WHERE " + " AND ".join(parts) if parts else ""


def parse_datetime(text: str) -> datetime:
    """Salesforce datetimes ('2026-01-05T09:00:00.000+0000' in JSON, '...Z' in Bulk CSV) as aware UTC."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def to_record(raw: dict[str, Any]) -> ExternalRecord:
    """A query row (REST JSON, or a converted Bulk CSV row) as an ExternalRecord."""
    values = {k: v for k, v in raw.items() if k != "attributes"}
    deleted = values.pop(DELETED_FIELD, False) in (True, "true")
    return ExternalRecord(values["Id"], parse_datetime(values[CURSOR_FIELD]), values, deleted)


def from_csv(sf_type: str, text: str) -> Any:
    """A Bulk CSV cell as REST JSON would give it, so both read paths yield the same values."""
    if text == "":
        return None
    if sf_type == "int":
        return int(float(text))
    if sf_type in ("double", "currency", "percent"):
        return float(text)
    if sf_type == "boolean":
        return text.lower() == "true"
    if sf_type == "datetime":
        value = parse_datetime(text)
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}+0000"
    return text


def to_json(value: Any) -> Any:
    """A Python value as Salesforce JSON expects it."""
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_csv(value: Any) -> str:
    """A Python value as a Bulk CSV cell (None clears the field)."""
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(to_json(value))
