"""Writing records to HubSpot in batches: one WriteResult per request, in order.

Linked records (``external_id`` set) are batch-updated by id. Unlinked ones are batch-upserted
by their unique key (``clientsuccess_id`` for companies and deals, ``email`` for contacts), so a
retry or re-run updates the record it created instead of making a second one. Every input
carries an ``objectWriteTraceId``: it makes HubSpot answer 207 with per-record errors instead
of failing the whole batch, and it ties each result and error back to its request.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crmsync.connectors.base import Rejected, WriteRequest, WriteResult
from crmsync.connectors.hubspot.changes import to_ms
from crmsync.connectors.hubspot.client import HubSpotClient
from crmsync.connectors.hubspot.settings import (
    ASSOCIATION_WRITE_BATCH,
    BATCH_SIZE,
    KEY_PROPERTY,
    PARENT_OBJECT,
    PRIMARY_COMPANY_TYPE,
    UPSERT_ID_PROPERTY,
)

_INVALID_PREFIX = "Property values were not valid:"


@dataclass
class _Slot:
    """One request on its way: its position, the HubSpot id or upsert key, the property payload."""

    index: int
    request: WriteRequest
    target: str  # external id (update) or upsert key value
    payload: dict[str, str]


def to_wire(value: Any) -> str:
    """A Python value as HubSpot's string property value (None clears the property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(to_ms(value))  # HubSpot takes epoch ms for datetime properties
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # never "1e+20"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BatchWriter:
    """One ``write`` call for one object type."""

    def __init__(self, client: HubSpotClient, obj: str) -> None:
        self.client = client
        self.obj = obj
        self.models = importlib.import_module(f"hubspot.crm.{obj}")
        self.results: list[WriteResult | None] = []

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Update linked records, upsert the rest, then set each child's primary company."""
        self.results = [None] * len(requests)
        linked, unlinked = self._sort(requests)
        for chunk in chunks(linked, BATCH_SIZE):
            self._send(chunk, update=True)
        for chunk in chunks(unlinked, BATCH_SIZE):
            self._send(chunk, update=False)
        if self.obj in PARENT_OBJECT:
            self._associate(requests)
        return [
            r or self._fail(requests[i], "HubSpot returned no result for this record")
            for i, r in enumerate(self.results)
        ]

    # --- preparing ----------------------------------------------------------------------------
    def _sort(self, requests: Sequence[WriteRequest]) -> tuple[list[_Slot], list[_Slot]]:
        linked, unlinked, seen = [], [], set()
        id_property = UPSERT_ID_PROPERTY[self.obj]
        for index, request in enumerate(requests):
            payload = {name: to_wire(value) for name, value in request.values.items()}
            if request.external_id and not payload:  # only its company changes: no update call
                self.results[index] = WriteResult(request.key, True, str(request.external_id))
                continue
            if request.external_id:
                slot, bucket = _Slot(index, request, str(request.external_id), payload), linked
            else:
                key_property = KEY_PROPERTY.get(self.obj)
                if key_property:
                    payload[key_property] = str(request.key)
                target = payload.get(id_property, "").strip()
                if not target:
                    self.results[index] = self._fail(
                        request,
                        f"cannot create a {self.obj[:-1]} without {id_property}: HubSpot upserts it by "
                        f"{id_property}",
                    )
                    continue
                slot, bucket = _Slot(index, request, target, payload), unlinked
            identity = self._identity(slot.target, bucket is linked)
            if identity in seen:
                self.results[index] = self._fail(
                    request, f"duplicate of an earlier record in this write ({slot.target})"
                )
                continue
            seen.add(identity)
            bucket.append(slot)
        return linked, unlinked

    def _identity(self, target: str, linked: bool) -> tuple[bool, str]:
        """What makes two requests one HubSpot record: its id, or its upsert key (emails ignore case)."""
        email = not linked and UPSERT_ID_PROPERTY[self.obj] == "email"
        return linked, target.lower() if email else target

    # --- sending ------------------------------------------------------------------------------
    def _send(self, chunk: Sequence[_Slot], update: bool) -> None:
        """One batch call; its results and per-record errors go to the requests they belong to."""
        what, call, body = self._batch(chunk, update)
        try:
            response = self.client.call(what, call, body)
        except Rejected as exc:  # the batch as a whole was refused: every record in it failed
            for slot in chunk:
                self.results[slot.index] = self._fail(slot.request, str(exc))
            return
        by_trace = {str(s.index): s for s in chunk}
        for result in response.results or []:
            slot = by_trace.get(str(result.object_write_trace_id)) or self._by_value(chunk, result, update)
            if slot is not None:
                created = bool(getattr(result, "new", False))
                self.results[slot.index] = WriteResult(slot.request.key, True, str(result.id), created)
        for error in getattr(response, "errors", None) or []:
            for slot in self._error_slots(chunk, error, by_trace):
                self.results[slot.index] = self._fail(slot.request, error_line(self.client, error))

    def _batch(self, chunk: Sequence[_Slot], update: bool) -> tuple[str, Any, Any]:
        """The SDK call and body: batch update by id, or batch upsert by the unique key."""
        m, api = self.models, self.client.api("crm", self.obj, "batch_api")
        if update:
            inputs = [
                m.SimplePublicObjectBatchInput(
                    id=s.target, properties=s.payload, object_write_trace_id=str(s.index)
                )
                for s in chunk
            ]
            return f"batch update {self.obj}", api.update, m.BatchInputSimplePublicObjectBatchInput(inputs)
        id_property = UPSERT_ID_PROPERTY[self.obj]
        upserts = [
            m.SimplePublicObjectBatchInputUpsert(
                id_property=id_property, id=s.target, properties=s.payload, object_write_trace_id=str(s.index)
            )
            for s in chunk
        ]
        return f"batch upsert {self.obj}", api.upsert, m.BatchInputSimplePublicObjectBatchInputUpsert(upserts)

    def _by_value(self, chunk: Sequence[_Slot], result: Any, update: bool) -> _Slot | None:
        """The request a result without a trace id belongs to, by its id or upsert key."""
        key = UPSERT_ID_PROPERTY[self.obj]
        value = str(result.id) if update else str((result.properties or {}).get(key, ""))
        wanted = self._identity(value, update)
        return next((s for s in chunk if self._identity(s.target, update) == wanted), None)

    def _error_slots(self, chunk: Sequence[_Slot], error: Any, by_trace: dict[str, _Slot]) -> list[_Slot]:
        context = getattr(error, "context", None) or {}
        slots = [by_trace[t] for t in context.get("objectWriteTraceId", []) if t in by_trace]
        ids = {str(i).lower() for i in context.get("ids", [])}
        slots += [s for s in chunk if s.target.lower() in ids and s not in slots]
        # An error HubSpot did not tie to an input applies to the inputs that got no result.
        return slots or [s for s in chunk if self.results[s.index] is None]

    # --- associations -------------------------------------------------------------------------
    def _associate(self, requests: Sequence[WriteRequest]) -> None:
        """Make each written child's ``parent_id`` its Primary company (v4 batch create)."""
        pending = [
            (i, r)
            for i, r in enumerate(self.results)
            if r is not None and r.ok and r.external_id and requests[i].parent_id
        ]
        for chunk in chunks(pending, ASSOCIATION_WRITE_BATCH):
            self._associate_chunk(chunk, requests)

    def _associate_chunk(
        self, chunk: Sequence[tuple[int, WriteResult]], requests: Sequence[WriteRequest]
    ) -> None:
        v4 = importlib.import_module("hubspot.crm.associations.v4")
        # The Primary label (not just the default association) so read_parents sees the new company.
        spec = v4.AssociationSpec(
            association_category="HUBSPOT_DEFINED", association_type_id=PRIMARY_COMPANY_TYPE[self.obj]
        )
        inputs = [
            v4.PublicAssociationMultiPost(
                _from=v4.PublicObjectId(id=r.external_id),
                to=v4.PublicObjectId(id=str(requests[i].parent_id)),
                types=[spec],
            )
            for i, r in chunk
        ]
        api = self.client.api("crm", "associations", "v4", "batch_api")
        what = f"associate {self.obj} with companies"
        try:
            body = v4.BatchInputPublicAssociationMultiPost(inputs=inputs)
            response = self.client.call(what, api.create, self.obj, PARENT_OBJECT[self.obj], body)
        except Rejected as exc:
            for i, _ in chunk:
                self._parent_failed(i, requests[i], str(exc))
            return
        by_child = {r.external_id: i for i, r in chunk}
        for error in getattr(response, "errors", None) or []:
            for child in (getattr(error, "context", None) or {}).get("fromObjectId", []):
                if child in by_child:
                    index = by_child[child]
                    self._parent_failed(index, requests[index], error_line(self.client, error))

    def _parent_failed(self, index: int, request: WriteRequest, reason: str) -> None:
        saved = self.results[index]
        self.results[index] = WriteResult(
            request.key,
            False,
            saved.external_id if saved else None,
            saved.created if saved else False,
            f"saved, but setting its company to {request.parent_id} failed: {reason}",
        )

    @staticmethod
    def _fail(request: WriteRequest, reason: str) -> WriteResult:
        return WriteResult(request.key, False, request.external_id, error=reason)


def error_line(client: HubSpotClient, error: Any) -> str:
    """One clear line for a per-record error, e.g. "clientsuccess_status: active was not one of ..."."""
    message = str(getattr(error, "message", "") or "")
    if message.startswith(_INVALID_PREFIX):
        try:
            problems = json.loads(message[len(_INVALID_PREFIX) :])
            message = "; ".join(f"{p.get('name')}: {p.get('message')} ({p.get('error')})" for p in problems)
        except (ValueError, AttributeError):
            pass
    category = getattr(error, "category", None)
    return client.scrub(f"{category}: {message}" if category else message)
