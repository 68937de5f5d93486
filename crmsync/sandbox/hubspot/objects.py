"""Routes of HubSpot's CRM objects API (v3) and Properties API for one object type."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from crmsync.sandbox.http import App, HttpError, Request, Response
from crmsync.sandbox.hubspot import wire
from crmsync.sandbox.hubspot.associations import AssociationStore
from crmsync.sandbox.hubspot.search import Search, SearchError
from crmsync.sandbox.hubspot.store import ObjectStore, Record

BATCH_LIMIT = 100  # batch read/create/update/upsert/archive inputs
LIST_MAX_LIMIT = 100
LIST_DEFAULT_LIMIT = 10


@dataclass
class Plan:
    """One batch input after validation: what to write, or why not."""

    trace: str | None
    record: Record | None = None  # the record to update; None creates one
    props: dict[str, str] = field(default_factory=dict)
    error: dict | None = None
    invalid: bool = False  # a property validation error: 207 only when inputs carry trace ids
    input: dict = field(default_factory=dict)


class ObjectRoutes:
    """The objects and properties endpoints of one object type, bound to its store."""

    def __init__(self, store: ObjectStore, associations: AssociationStore, clock: Callable[[], int]) -> None:
        self.store = store
        self.associations = associations
        self.clock = clock
        self.type = store.type

    def register(self, app: App, guard: Callable[[Callable], Callable]) -> None:
        """Add this type's routes to ``app``; ``guard`` wraps each handler (locking)."""
        name = self.type.name
        base = f"/crm/v3/objects/(?:{name}|{self.type.type_id}|{self.type.singular.lower()})"
        routes = [
            ("GET", base, f"list:{name}", self.list),
            ("POST", base, f"create:{name}", self.create),
            ("POST", f"{base}/search", f"search:{name}", self.search),
            ("POST", f"{base}/batch/read", f"batch_read:{name}", self.batch_read),
            ("POST", f"{base}/batch/create", f"batch_create:{name}", self.batch_create),
            ("POST", f"{base}/batch/update", f"batch_update:{name}", self.batch_update),
            ("POST", f"{base}/batch/upsert", f"batch_upsert:{name}", self.batch_upsert),
            ("POST", f"{base}/batch/archive", f"batch_archive:{name}", self.batch_archive),
            ("GET", f"{base}/(?P<id>[^/]+)", f"get:{name}", self.get),
            ("PATCH", f"{base}/(?P<id>[^/]+)", f"update:{name}", self.update),
            ("DELETE", f"{base}/(?P<id>[^/]+)", f"archive:{name}", self.archive),
            (
                "GET",
                f"/crm/v3/properties/(?:{name}|{self.type.type_id})",
                f"properties:{name}",
                self.properties,
            ),
            (
                "GET",
                f"/crm/v3/properties/(?:{name}|{self.type.type_id})/(?P<name>[^/]+)",
                f"property:{name}",
                self.property,
            ),
        ]
        for method, pattern, label, handler in routes:
            app.route(method, pattern, label, guard(handler))

    # --- single records -----------------------------------------------------------------------
    def list(self, request: Request) -> dict:
        """One page of records in id order; ``archived=true`` lists the archive instead."""
        limit = self._limit(request.arg("limit"))
        archived = wire.query_flag(request, "archived")
        source = self.store.archived if archived else self.store.live
        ids = sorted(source) if archived else self.store.ids
        after = request.arg("after")
        start = bisect_left(ids, self._id(after)) if after else 0
        page = ids[start : start + limit]
        props = wire.query_list(request, "properties")
        body: dict = {"results": [self.store.render(source[i], props) for i in page]}
        if start + limit < len(ids):
            body["paging"] = {"next": {"after": str(ids[start + limit])}}
        return body

    def get(self, request: Request) -> dict:
        """One record by id (or by a unique property with ``idProperty``)."""
        record = self._find(
            request.params["id"], request.arg("idProperty"), wire.query_flag(request, "archived")
        )
        if record is None:
            raise wire.not_found()
        return self.store.render(record, wire.query_list(request, "properties"))

    def create(self, request: Request) -> Response:
        """Create one record (201), or 400 with the property errors."""
        props, problems = self.store.validate(wire.json_body(request).get("properties") or {})
        if problems:
            raise HttpError(
                400, {**wire.property_error(problems, {}), "correlationId": wire.correlation_id()}
            )
        record = self.store.create(props, self.clock())
        return Response(201, self.store.render(record, props))

    def update(self, request: Request) -> dict:
        """Update one record by id; only real changes move its last-modified date."""
        record = self._find(request.params["id"], request.arg("idProperty"))
        if record is None:
            raise wire.not_found()
        props, problems = self.store.validate(wire.json_body(request).get("properties") or {}, record)
        if problems:
            raise HttpError(
                400, {**wire.property_error(problems, {}), "correlationId": wire.correlation_id()}
            )
        self.store.update(record, props, self.clock())
        return self.store.render(record, props)

    def archive(self, request: Request) -> Response:
        """Archive one record (204, also when it is already gone)."""
        record = self._find(request.params["id"], None)
        if record is not None:
            self.store.archive(record, self.clock())
        return Response(204)

    def search(self, request: Request) -> dict:
        """CRM search; a broken HubSpot rule (limit, filters, sorts, 10k cap) answers 400."""
        try:
            return Search(self.store, wire.json_body(request)).run()
        except SearchError as exc:
            raise wire.bad_request(str(exc)) from None

    # --- batches ------------------------------------------------------------------------------
    def batch_read(self, request: Request) -> Response:
        """Records by id (or unique ``idProperty``); missing ones are one OBJECT_NOT_FOUND error (207)."""
        started = wire.now_ms()
        body, inputs = wire.batch_inputs(request, BATCH_LIMIT)
        archived = wire.query_flag(request, "archived")
        results, missing = [], []
        for item in inputs:
            key = str((item or {}).get("id") or "")
            record = self._find(key, body.get("idProperty"), archived)
            if record is None:
                missing.append(key)
            else:
                results.append(self.store.render(record, body.get("properties")))
        errors = []
        if missing:
            message = (
                f"Could not get some {self.type.singular} objects, they may be deleted or not exist. "
                "Check that ids are valid."
            )
            errors.append(wire.record_error(message, "OBJECT_NOT_FOUND", {"ids": missing}))
        return wire.batch_response(results, errors, started)

    def batch_create(self, request: Request) -> Response:
        """Create records (201), with per-record errors as 207 when inputs carry objectWriteTraceId."""
        started = wire.now_ms()
        _, inputs = wire.batch_inputs(request, BATCH_LIMIT)
        plans = [self._plan(item, None) for item in inputs]
        return self._apply(plans, started, ok_status=201)

    def batch_update(self, request: Request) -> Response:
        """Update records by id (or ``idProperty``); unknown ids are per-record OBJECT_NOT_FOUND errors."""
        started = wire.now_ms()
        _, inputs = wire.batch_inputs(request, BATCH_LIMIT)
        self._reject_duplicates([str((i or {}).get("id")) for i in inputs])
        plans = []
        for item in inputs:
            record = self._find(str(item.get("id") or ""), item.get("idProperty"))
            if record is None:
                plans.append(self._missing(item))
            else:
                plans.append(self._plan(item, record))
        return self._apply(plans, started)

    def batch_upsert(self, request: Request) -> Response:
        """Create or update by a unique ``idProperty``; any other idProperty (domain!) is a 400."""
        started = wire.now_ms()
        _, inputs = wire.batch_inputs(request, BATCH_LIMIT)
        for item in inputs:
            id_property = (item or {}).get("idProperty")
            if id_property not in self.type.upsert_id_properties:
                # HubSpot only upserts by a property with unique values; domain is not one.
                raise wire.bad_request(
                    f"Unable to perform update/upsert by non-unique {self.type.type_id} property: "
                    f"{id_property}"
                )
            if not item.get("id"):
                raise wire.bad_request("Each upsert input needs an id value for its idProperty")
        self._reject_duplicates([self.store.normal(i["idProperty"], str(i["id"])) for i in inputs])
        plans = []
        for item in inputs:
            id_property, key = item["idProperty"], str(item["id"])
            record = self._find(key, id_property)
            if record is None and id_property == "hs_object_id":
                plans.append(self._missing(item))
                continue
            if id_property != "hs_object_id":
                item = {**item, "properties": {**(item.get("properties") or {}), id_property: key}}
            plans.append(self._plan(item, record))
        return self._apply(plans, started, upsert=True)

    def batch_archive(self, request: Request) -> Response:
        """Archive records by id: 204 with no body."""
        _, inputs = wire.batch_inputs(request, BATCH_LIMIT)
        now = self.clock()
        for item in inputs:
            record = self._find(str((item or {}).get("id") or ""), None)
            if record is not None:
                self.store.archive(record, now)
        return Response(204)

    # --- properties ---------------------------------------------------------------------------
    def properties(self, request: Request) -> dict:
        """All properties of the type, in the Properties API's shape."""
        group = f"{self.type.singular.lower()}information"
        return {"results": [p.to_json(i, group) for i, p in enumerate(self.type.properties)]}

    def property(self, request: Request) -> dict:
        """One property by name."""
        group = f"{self.type.singular.lower()}information"
        for i, p in enumerate(self.type.properties):
            if p.name == request.params["name"]:
                return p.to_json(i, group)
        raise wire.not_found(f"Unable to find property {request.params['name']}")

    # --- internals ----------------------------------------------------------------------------
    def _plan(self, item: dict, record: Record | None) -> Plan:
        trace = item.get("objectWriteTraceId")
        props, problems = self.store.validate(item.get("properties") or {}, record)
        plan = Plan(trace, record, props, input=item)
        if problems:
            context = {"objectWriteTraceId": [trace]} if trace else {}
            if record is not None:
                context["ids"] = [str(record.id)]
            plan.error, plan.invalid = wire.property_error(problems, context), True
        return plan

    def _missing(self, item: dict) -> Plan:
        trace = item.get("objectWriteTraceId")
        context = {"ids": [str(item.get("id"))], **({"objectWriteTraceId": [trace]} if trace else {})}
        message = f"Could not find {self.type.singular} with id {item.get('id')}"
        return Plan(trace, error=wire.record_error(message, "OBJECT_NOT_FOUND", context), input=item)

    def _apply(self, plans: list[Plan], started: int, ok_status: int = 200, upsert: bool = False) -> Response:
        invalid = [p for p in plans if p.invalid]
        if invalid and not all(p.trace for p in plans):
            # Without objectWriteTraceId on every input HubSpot fails the whole batch, writing nothing.
            first = invalid[0].error or {}
            raise HttpError(400, {**first, "correlationId": wire.correlation_id()})
        now = self.clock()
        results, errors = [], []
        for plan in plans:
            if plan.error:
                errors.append(plan.error)
                continue
            created = plan.record is None
            record = self.store.create(plan.props, now) if created else plan.record
            if not created:
                self.store.update(record, plan.props, now)
            self._associate(record, plan.input.get("associations") or [])
            result = self.store.render(record, plan.props)
            if plan.trace:
                result["objectWriteTraceId"] = plan.trace
            if upsert:
                result["new"] = created
            results.append(result)
        return wire.batch_response(results, errors, started, ok_status)

    def _associate(self, record: Record, associations: list[dict]) -> None:
        for spec in associations:
            to_id = self._id(str((spec.get("to") or {}).get("id")))
            type_ids = {t.get("associationTypeId") for t in spec.get("types") or []}
            self.associations.link_by_type(self.type.name, record.id, to_id, type_ids)

    def _find(self, key: str, id_property: str | None, archived: bool = False) -> Record | None:
        if id_property and id_property != "hs_object_id":
            return None if archived else self.store.find_unique(id_property, key)
        record_id = self._id(key, strict=False)
        if record_id is None:
            return None
        return (self.store.archived if archived else self.store.live).get(record_id)

    @staticmethod
    def _id(value: str | None, strict: bool = True) -> int | None:
        if value is not None and str(value).isdigit():
            return int(value)
        if strict:
            raise wire.bad_request(f"Invalid id: {value!r}")
        return None

    @staticmethod
    def _limit(raw: str | None) -> int:
        limit = int(raw) if raw and raw.isdigit() else LIST_DEFAULT_LIMIT
        if not 0 < limit <= LIST_MAX_LIMIT:
            raise wire.bad_request(f"limit must be between 1 and {LIST_MAX_LIMIT}")
        return limit

    @staticmethod
    def _reject_duplicates(keys: list[str]) -> None:
        seen, duplicates = set(), []
        for key in keys:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        if duplicates:
            raise wire.bad_request(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
