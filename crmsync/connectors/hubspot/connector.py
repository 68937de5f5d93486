"""The HubSpot connector: the ``Connector`` interface on the official ``hubspot-api-client`` SDK."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from types import ModuleType
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
from crmsync.connectors.hubspot.changes import ChangeReader, Hit, from_ms, parse_time
from crmsync.connectors.hubspot.client import HubSpotClient
from crmsync.connectors.hubspot.settings import (
    ASSOCIATION_READ_BATCH,
    BASE_URL_ENV,
    BATCH_SIZE,
    CREDENTIAL_ENV,
    DEFAULT_BASE_URL,
    FIELD_TYPES,
    ID_PROPERTY,
    LIST_PAGE_SIZE,
    MODIFIED_PROPERTY,
    OBJECTS,
    PARENT_OBJECT,
    PRIMARY_COMPANY_TYPE,
    UPSERT_ID_PROPERTY,
)
from crmsync.connectors.hubspot.writes import BatchWriter, chunks
from crmsync.secrets import Secret


class HubSpotConnector:
    """Companies, contacts and deals in one HubSpot account, read and written in batches."""

    kind = "hubspot"

    def __init__(self, access_token: Secret | str, base_url: str = DEFAULT_BASE_URL, **client_options: Any):
        """Connect to ``base_url`` with ``access_token``.

        ``client_options`` tune HubSpotClient's timeout and retries: timeout, max_attempts,
        retry_base_delay, rate_limit_delay, max_retry_delay (tests make the delays small).
        """
        token = access_token if isinstance(access_token, Secret) else Secret(access_token)
        self.base_url = base_url.rstrip("/")
        self._client = HubSpotClient(token, self.base_url, **client_options)

    @classmethod
    def from_env(cls, **client_options: Any) -> HubSpotConnector:
        """A connector from HUBSPOT_ACCESS_TOKEN and HUBSPOT_BASE_URL (environment or Prefect blocks)."""
        token = secrets.get_secret(CREDENTIAL_ENV)
        if token is None:
            raise AuthError(
                f"{CREDENTIAL_ENV} is not set (environment or Prefect Secret block "
                f"'{secrets.block_name(CREDENTIAL_ENV)}')"
            )
        return cls(token, secrets.get(BASE_URL_ENV, DEFAULT_BASE_URL) or DEFAULT_BASE_URL, **client_options)

    def __repr__(self) -> str:
        return f"HubSpotConnector(base_url={self.base_url!r})"

    __str__ = __repr__

    # --- the Connector interface, plus a look-up by id (not in the interface) ----------------
    def check(self) -> str:
        """One cheap call (a one-company page) that proves the token and the host."""
        api = self._client.api("crm", "companies", "basic_api")
        self._client.call("check", api.get_page, limit=1, archived=False, retry_transport=False)
        return f"HubSpot CRM at {self.base_url}: access token accepted"

    def describe(self, obj: str) -> list[FieldInfo]:
        """The object's properties, enumeration options in their exact case."""
        self._models(obj)
        api = self._client.api("crm", "properties", "core_api")
        response = self._client.call(f"describe {obj}", api.get_all, obj, archived=False)
        return [self._field(obj, p) for p in response.results if not p.hidden]

    def read_changed(
        self, obj: str, fields: Sequence[str], since: Cursor, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of records modified after ``since`` (by CRM search on the last-modified date)."""
        self._models(obj)
        reader = ChangeReader(self._searcher(obj, fields), MODIFIED_PROPERTY[obj], since, until)
        return reader.pages()

    def read_by_ids(self, obj: str, ids: Sequence[str], fields: Sequence[str]) -> list[ExternalRecord]:
        """Records by id, 100 per batch read; missing or archived ids are simply absent."""
        m = self._models(obj)
        api = self._client.api("crm", obj, "batch_api")
        properties = self._properties(obj, fields)
        records = []
        for chunk in chunks(list(dict.fromkeys(ids)), BATCH_SIZE):
            body = m.BatchReadInputSimplePublicObjectId(
                inputs=[m.SimplePublicObjectId(id=str(i)) for i in chunk],
                properties=properties,
                properties_with_history=[],
            )
            response = self._client.call(f"batch read {obj}", api.read, body, archived=False)
            records += [self._record(obj, r) for r in response.results]
        return records

    def read_deleted(self, obj: str, since: datetime | None) -> Iterator[list[DeletedRecord]]:
        """Batches of records archived at or after ``since`` (the archive list, 100 a page)."""
        self._models(obj)
        api = self._client.api("crm", obj, "basic_api")
        after = None
        while True:
            # The list endpoint cannot filter by archive date: the whole archive is paged and filtered here.
            response = self._client.call(
                f"list archived {obj}",
                api.get_page,
                limit=LIST_PAGE_SIZE,
                after=after,
                properties=[ID_PROPERTY],
                archived=True,
            )
            batch = [DeletedRecord(str(r.id), _utc(r.archived_at)) for r in response.results]
            batch = [d for d in batch if since is None or d.deleted_at is None or d.deleted_at >= _utc(since)]
            if batch:
                yield batch
            after = response.paging.next.after if response.paging and response.paging.next else None
            if not after:
                return

    def read_parents(self, obj: str, records: Sequence[ExternalRecord]) -> dict[str, str]:
        """Child id -> its company: the Primary association, else the lowest company id."""
        self._models(obj)
        if obj not in PARENT_OBJECT:
            return {}
        v4 = importlib.import_module("hubspot.crm.associations.v4")
        api = self._client.api("crm", "associations", "v4", "batch_api")
        parents: dict[str, str] = {}
        ids = list(dict.fromkeys(r.id for r in records))
        for chunk in chunks(ids, ASSOCIATION_READ_BATCH):
            body = v4.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[v4.PublicFetchAssociationsBatchRequest(id=i) for i in chunk]
            )
            # Read as raw JSON inside the retried call: the SDK turns a cut body into an empty answer.
            response = self._client.call(
                f"read {obj} companies",
                _read_json,
                api.get_page,
                obj,
                PARENT_OBJECT[obj],
                body,
                _preload_content=False,
            )
            # Ids without a company come back as per-id errors (207): they simply have no parent.
            for result in response.get("results") or []:
                parent = self._parent(obj, result.get("to") or [])
                if parent:
                    parents[str(result["from"]["id"])] = parent
        return parents

    def write(self, obj: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Create or update records, 100 per batch call; one result per request, in order."""
        self._models(obj)
        return BatchWriter(self._client, obj).write(list(requests))

    # --- helpers ------------------------------------------------------------------------------
    def _searcher(self, obj: str, fields: Sequence[str]):
        m = self._models(obj)
        api = self._client.api("crm", obj, "search_api")
        properties = self._properties(obj, fields)

        def search(filters: list[dict], sort_property: str, after: int, limit: int) -> tuple[list[Hit], bool]:
            groups = (
                [
                    m.FilterGroup(
                        filters=[
                            m.Filter(
                                property_name=f["propertyName"], operator=f["operator"], value=f.get("value")
                            )
                            for f in filters
                        ]
                    )
                ]
                if filters
                else []
            )
            body = m.PublicObjectSearchRequest(
                filter_groups=groups,
                sorts=[{"propertyName": sort_property, "direction": "ASCENDING"}],
                properties=properties,
                limit=limit,
                after=str(after),
            )
            # The SDK makes the call (and raises on errors as usual), but its model layer parses two
            # datetimes per record with dateutil: half of a pull's time. The JSON is read directly.
            # The body is read and parsed inside the retried call: a dropped connection or cut JSON
            # mid-body is a transient failure like any other, not the end of the run.
            page = self._client.call(f"search {obj}", _read_json, api.do_search, body, _preload_content=False)
            hits = [
                Hit(str(r["id"]), self._modified_ms_raw(obj, r), dict(r.get("properties") or {}))
                for r in page.get("results") or []
            ]
            more = bool(((page.get("paging") or {}).get("next") or {}).get("after"))
            return hits, more

        return search

    def _record(self, obj: str, result: Any) -> ExternalRecord:
        return ExternalRecord(
            str(result.id), from_ms(self._modified_ms(obj, result)), dict(result.properties or {})
        )

    @staticmethod
    def _modified_ms(obj: str, result: Any) -> int:
        value = (result.properties or {}).get(MODIFIED_PROPERTY[obj])
        if value:
            return parse_time(value)
        return parse_time(_utc(result.updated_at).isoformat())  # HubSpot always sends it; just in case

    @staticmethod
    def _modified_ms_raw(obj: str, result: dict[str, Any]) -> int:
        value = (result.get("properties") or {}).get(MODIFIED_PROPERTY[obj]) or result.get("updatedAt")
        return parse_time(value)

    @staticmethod
    def _properties(obj: str, fields: Sequence[str]) -> list[str]:
        return list(dict.fromkeys([*fields, ID_PROPERTY, MODIFIED_PROPERTY[obj]]))

    @staticmethod
    def _parent(obj: str, targets: Sequence[dict[str, Any]]) -> str | None:
        primary = PRIMARY_COMPANY_TYPE[obj]
        for target in targets:
            if any(t.get("typeId") == primary for t in target.get("associationTypes") or []):
                return str(target["toObjectId"])
        ids = sorted((str(t["toObjectId"]) for t in targets), key=lambda i: (len(i), i))
        return ids[0] if ids else None

    @staticmethod
    def _field(obj: str, prop: Any) -> FieldInfo:
        kind = "bool" if prop.field_type == "booleancheckbox" else FIELD_TYPES.get(prop.type, "string")
        metadata = prop.modification_metadata
        read_only = bool(prop.calculated) or bool(metadata and metadata.read_only_value)
        options = tuple(o.value for o in prop.options or []) if kind == "enumeration" else ()
        # Contacts are unique by email although HubSpot does not flag the property hasUniqueValue.
        unique = bool(prop.has_unique_value) or prop.name == UPSERT_ID_PROPERTY[obj]
        return FieldInfo(prop.name, prop.label, kind, options, unique, read_only)

    @staticmethod
    def _models(obj: str) -> ModuleType:
        if obj not in OBJECTS:
            raise ConnectorError(f"HubSpot object must be one of {', '.join(OBJECTS)}; got {obj!r}")
        return importlib.import_module(f"hubspot.crm.{obj}")


def _read_json(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Make an SDK call without its model layer and parse the answer's JSON body."""
    raw = call(*args, **kwargs)
    try:
        return json.loads(raw.data)
    finally:
        raw.release_conn()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
