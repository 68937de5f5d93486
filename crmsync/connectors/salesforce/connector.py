"""The Connector for Salesforce (Account, Contact, Opportunity): reads, writes, describe, check."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmsync import secrets
from crmsync.connectors.base import (
    AuthError,
    ConnectorError,
    Cursor,
    DeletedRecord,
    ExternalRecord,
    FieldInfo,
    Page,
    WriteRequest,
    WriteResult,
)
from crmsync.connectors.salesforce import reads, writes
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.settings import (
    API_VERSION,
    BULK_THRESHOLD_ENV,
    CURSOR_FIELD,
    DEFAULT_BULK_THRESHOLD,
    DEFAULT_LOGIN_URL,
    DELETED_FIELD,
    FIELD_TYPES,
    PARENT_FIELD,
    QUERY_BATCH_SIZE,
    READ_BY_IDS_CHUNK,
)
from crmsync.connectors.salesforce.soql import (
    build_soql,
    changed_where,
    check_name,
    parse_datetime,
    soql_datetime,
    soql_literal,
    to_record,
)
from crmsync.secrets import Secret

_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


@dataclass(frozen=True)
class SalesforceOptions:
    """How the connector talks to Salesforce: retries, timeouts, batch sizes, the Bulk threshold."""

    bulk_threshold: int | None = None  # None: CRMSYNC_SALESFORCE_BULK_THRESHOLD, else 10,000
    retry_base_delay: float = 1.0
    max_attempts: int = 5
    timeout: float = 60.0
    bulk_poll_interval: float = 2.0
    query_batch_size: int = QUERY_BATCH_SIZE
    api_version: str = API_VERSION


class SalesforceConnector:
    """Salesforce through simple-salesforce: SOQL and sObject Collections, Bulk API 2.0 above a threshold."""

    kind = "salesforce"
    deletion_sweep_every = None
    deletions_in_changes = True  # one queryAll returns changed and deleted (IsDeleted) records

    def __init__(
        self,
        *,
        instance_url: str | None = None,
        access_token: Secret | None = None,
        username: str | None = None,
        password: Secret | None = None,
        security_token: Secret | None = None,
        **options: Any,
    ) -> None:
        """Connect with a token (instance URL + access token) or a password login; ``options`` are
        ``SalesforceOptions`` fields (retries, timeouts, batch sizes, the Bulk threshold)."""
        opts = SalesforceOptions(**options)
        login = (username, password, security_token) if username and password and security_token else None
        if not (instance_url and access_token) and login is None:
            raise AuthError(
                "Salesforce credentials missing: set SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN, "
                "or SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN"
            )
        url = (instance_url or DEFAULT_LOGIN_URL).strip().rstrip("/")
        url = url if "://" in url else f"https://{url}"
        token = access_token if instance_url and access_token else None  # a token wins over a password
        self._client = SalesforceClient(
            url,
            token,
            None if token else login,
            version=opts.api_version,
            timeout=opts.timeout,
            base_delay=opts.retry_base_delay,
            max_attempts=opts.max_attempts,
        )
        self._auth = "token" if token else "password"
        self._bulk_threshold = _bulk_threshold() if opts.bulk_threshold is None else opts.bulk_threshold
        self._poll, self._batch_size = opts.bulk_poll_interval, opts.query_batch_size
        self._describes: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    def from_env(cls, **options: Any) -> SalesforceConnector:
        """Build from the environment (or Prefect Secret blocks of the same names); options pass through."""
        return cls(
            instance_url=secrets.get("SALESFORCE_INSTANCE_URL"),
            access_token=secrets.get_secret("SALESFORCE_ACCESS_TOKEN"),
            username=secrets.get("SALESFORCE_USERNAME"),
            password=secrets.get_secret("SALESFORCE_PASSWORD"),
            security_token=secrets.get_secret("SALESFORCE_SECURITY_TOKEN"),
            **options,
        )

    def __repr__(self) -> str:
        return f"SalesforceConnector(url={self._client.url!r}, auth={self._auth!r})"

    @property
    def account(self) -> str:
        """Which org this is (its instance, known after check()), with no secret in it."""
        return f"salesforce https://{self._client.host}"

    __str__ = __repr__

    # --- the Connector interface, plus look-ups by id or value (not in the interface) ---------
    def check(self) -> str:
        """One call to /limits: proves the credentials and reports the daily API allowance."""
        limits = self._client.call("check", lambda sf: sf.limits(), retry_transport=False)
        daily = limits.get("DailyApiRequests") or {}
        left = f"{daily.get('Remaining')}/{daily.get('Max')}"
        return f"Salesforce {self._client.host} (API v{self._client.version}): {left} daily API requests left"

    def describe(self, obj: str) -> list[FieldInfo]:
        """The object's fields: picklist values in exact case; unique for External ID and unique fields."""
        return [
            FieldInfo(
                name=f["name"],
                label=f.get("label") or f["name"],
                type=FIELD_TYPES.get(f.get("type", ""), "string"),
                options=tuple(p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)),
                unique=bool(f.get("unique") or f.get("externalId")),
                read_only=not (f.get("createable") or f.get("updateable")),
            )
            for f in self._describe(obj)
        ]

    def read_changed(
        self, obj: str, fields: Sequence[str], since: Cursor, until: datetime | None = None
    ) -> Iterator[Page]:
        """Records changed or deleted after ``since``, in one queryAll: REST pages oldest first, or
        one Bulk API 2.0 queryAll job above the threshold. Deleted rows come marked ``deleted``.

        The first REST answer's totalSize picks the path, so an ordinary run pays no COUNT() round
        trip; above the threshold that first page is dropped and the Bulk job reads everything.
        Bulk results come in no useful order, so bulk pages keep ``since`` as their cursor and only
        the last page carries the newest (SystemModstamp, Id): a crash part way re-reads, never skips.
        """
        select = [*self._select(obj, fields), DELETED_FIELD]
        where = changed_where(since, until)
        soql = build_soql(obj, select, where, f" ORDER BY {CURSOR_FIELD}, Id")
        answers = reads.query_results(self._client, obj, soql, self._batch_size, include_deleted=True)
        first = next(answers)
        if first["totalSize"] > self._bulk_threshold:
            answers.close()
            types = {f["name"]: f.get("type", "") for f in self._describe(obj)}
            yield from reads.bulk_changed(
                self._client, obj, build_soql(obj, select, where), types, since, self._poll
            )
            return
        for answer in itertools.chain([first], answers):
            records = [to_record(r) for r in answer["records"]]
            if records:
                yield Page(records, Cursor(records[-1].modified_at, records[-1].id))

    def read_by_ids(self, obj: str, ids: Sequence[str], fields: Sequence[str]) -> list[ExternalRecord]:
        """The records with these ids (``Id IN`` queries of 200); unknown or malformed ids are absent."""
        return self.read_by_values(obj, "Id", [i for i in ids if _ID.match(i or "")], fields)

    def read_by_values(
        self, obj: str, field: str, values: Sequence[Any], fields: Sequence[str]
    ) -> list[ExternalRecord]:
        """Records whose ``field`` is one of ``values`` (quoted and escaped for SOQL), 200 values a query."""
        check_name(field)
        select = self._select(obj, fields)
        distinct = list(dict.fromkeys(values))
        out: list[ExternalRecord] = []
        for start in range(0, len(distinct), READ_BY_IDS_CHUNK):
            where = f" WHERE {field} IN {soql_literal(distinct[start : start + READ_BY_IDS_CHUNK])}"
            for batch in reads.query_batches(
                self._client, obj, build_soql(obj, select, where), self._batch_size
            ):
                out += [to_record(r) for r in batch]
        return out

    def read_deleted(self, obj: str, since: datetime | None) -> Iterator[list[DeletedRecord]]:
        """Soft-deleted records (the recycle bin, via queryAll) with SystemModstamp at or after ``since``."""
        where = " WHERE IsDeleted = true" + (
            f" AND {CURSOR_FIELD} >= {soql_datetime(since)}" if since else ""
        )
        soql = build_soql(obj, ["Id", CURSOR_FIELD], where, f" ORDER BY {CURSOR_FIELD}, Id")
        for batch in reads.query_batches(self._client, obj, soql, self._batch_size, include_deleted=True):
            if batch:
                yield [DeletedRecord(r["Id"], parse_datetime(r[CURSOR_FIELD])) for r in batch]

    def read_parents(self, obj: str, records: Sequence[ExternalRecord]) -> dict[str, str]:
        """Contact/Opportunity id -> AccountId, from the records themselves (read_changed selects it)."""
        parent = PARENT_FIELD.get(obj)
        if parent is None:
            return {}
        return {r.id: r.values[parent] for r in records if r.values.get(parent)}

    def write(self, obj: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Upsert unlinked records on ClientSuccess_Id__c, update linked ones by Id; one result each.

        Results follow the requests' order. Each kind goes as Collections calls of 200 or, above
        the bulk threshold, as one Bulk API 2.0 ingest job.
        """
        check_name(obj)
        results: dict[int, WriteResult] = {}
        for mode in ("upsert", "update"):
            positions = [i for i, r in enumerate(requests) if bool(r.external_id) == (mode == "update")]
            if not positions:
                continue
            batch = [requests[i] for i in positions]
            if len(batch) > self._bulk_threshold:
                answers = writes.bulk_write(self._client, obj, mode, batch, self._poll)
            else:
                answers = writes.collections_write(self._client, obj, mode, batch)
            results.update(zip(positions, answers, strict=True))
        return [results[i] for i in range(len(requests))]

    # --- helpers -------------------------------------------------------------------------------
    def _select(self, obj: str, fields: Sequence[str]) -> list[str]:
        """Id, the cursor field and the parent lookup first, then the asked fields, each once."""
        wanted = ["Id", CURSOR_FIELD, *([PARENT_FIELD[obj]] if obj in PARENT_FIELD else []), *fields]
        seen: dict[str, str] = {}
        for name in wanted:
            seen.setdefault(check_name(name).lower(), name)  # SOQL names ignore case; a repeat is an error
        return list(seen.values())

    def _describe(self, obj: str) -> list[dict[str, Any]]:
        if obj not in self._describes:
            result = self._client.call(f"describe {obj}", lambda sf: getattr(sf, check_name(obj)).describe())
            self._describes[obj] = list(result["fields"])
        return self._describes[obj]


def _bulk_threshold() -> int:
    raw = os.environ.get(BULK_THRESHOLD_ENV)
    if not raw:
        return DEFAULT_BULK_THRESHOLD
    try:
        return int(raw)
    except ValueError:
        raise ConnectorError(f"{BULK_THRESHOLD_ENV} must be a whole number of records, not {raw!r}") from None
