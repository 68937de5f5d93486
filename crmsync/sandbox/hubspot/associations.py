"""Associations (v4) between contacts/deals and companies: storage and routes.

Edges are stored once, child -> company, with two flags: the unlabeled ("default") type and
the Primary label. Reads in the company -> child direction scan the edges once per request.
"""

from __future__ import annotations

from collections.abc import Callable

from crmsync.sandbox.http import App, Request, Response
from crmsync.sandbox.hubspot import wire
from crmsync.sandbox.hubspot.schema import ALIASES, ASSOCIATION_TYPES, CHILD_TYPES, OBJECT_TYPES
from crmsync.sandbox.hubspot.store import ObjectStore

ASSOCIATION_READ_LIMIT = 1000  # batch read inputs, since February 2025
ASSOCIATION_WRITE_LIMIT = 2000  # batch create / associate-default inputs
UNLABELED, PRIMARY = 1, 2
# typeId -> (from type, to type, is primary)
_TYPE_IDS = {
    type_id: (pair[0], pair[1], primary)
    for pair, ids in ASSOCIATION_TYPES.items()
    for type_id, primary in zip(ids, (False, True), strict=True)
}


class AssociationStore:
    """Child -> company edges with unlabeled/primary flags."""

    def __init__(self, stores: dict[str, ObjectStore]) -> None:
        self.stores = stores
        self.edges: dict[str, dict[int, dict[int, int]]] = {t: {} for t in CHILD_TYPES}

    def link(self, child_type: str, child_id: int, company_id: int, primary: bool = False) -> None:
        """Associate a child with a company; a new Primary replaces the old one (which stays unlabeled)."""
        parents = self.edges[child_type].setdefault(child_id, {})
        if primary:
            for other, flags in parents.items():
                parents[other] = flags & ~PRIMARY
        parents[company_id] = parents.get(company_id, 0) | UNLABELED | (PRIMARY if primary else 0)

    def link_by_type(self, from_type: str, from_id: int | None, to_id: int | None, type_ids: set) -> None:
        """Associate as a batch-create input's ``types`` say (HUBSPOT_DEFINED type ids)."""
        for type_id in type_ids:
            known = _TYPE_IDS.get(type_id)
            if known is None or known[0] != from_type or from_id is None or to_id is None:
                continue
            child_type, child, company = (
                (from_type, from_id, to_id) if from_type in CHILD_TYPES else (known[1], to_id, from_id)
            )
            self.link(child_type, child, company, primary=known[2])

    def targets(self, from_type: str, to_type: str, ids: list[int]) -> dict[int, dict[int, int]]:
        """For each id, the associated records of ``to_type`` and their flags."""
        if from_type in CHILD_TYPES and to_type == "companies":
            edges = self.edges[from_type]
            return {i: edges.get(i, {}) for i in ids}
        if from_type == "companies" and to_type in CHILD_TYPES:
            wanted = set(ids)
            found: dict[int, dict[int, int]] = {i: {} for i in ids}
            for child, parents in self.edges[to_type].items():
                for company, flags in parents.items():
                    if company in wanted:
                        found[company][child] = flags
            return found
        return {i: {} for i in ids}


def _type_specs(from_type: str, to_type: str, flags: int) -> list[dict]:
    unlabeled, primary = ASSOCIATION_TYPES[(from_type, to_type)]
    specs = [{"category": "HUBSPOT_DEFINED", "typeId": unlabeled, "label": None}]
    if flags & PRIMARY:
        specs.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"})
    return specs


class AssociationRoutes:
    """The v4 association endpoints the sandbox serves."""

    def __init__(self, associations: AssociationStore) -> None:
        self.associations = associations
        self.stores = associations.stores

    def register(self, app: App, guard: Callable[[Callable], Callable]) -> None:
        """Add the association routes to ``app``; ``guard`` wraps each handler (locking)."""
        pair = "/crm/v4/associations/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)/batch"
        one = "/crm/v4/objects/(?P<from_type>[^/]+)/(?P<id>\\d+)/associations"
        app.route("POST", f"{pair}/read", "associations_batch_read", guard(self.batch_read))
        app.route(
            "POST",
            f"{pair}/associate/default",
            "associations_batch_associate_default",
            guard(self.batch_default),
        )
        app.route("POST", f"{pair}/create", "associations_batch_create", guard(self.batch_create))
        app.route(
            "PUT",
            f"{one}/default/(?P<to_type>[^/]+)/(?P<to_id>\\d+)",
            "associations_associate_default",
            guard(self.associate_default),
        )
        app.route("GET", f"{one}/(?P<to_type>[^/]+)", "associations_list", guard(self.list))

    def batch_read(self, request: Request) -> Response:
        """Associated records per input id; ids with none are NO_ASSOCIATIONS_FOUND errors (207)."""
        started = wire.now_ms()
        from_type, to_type = self._pair(request)
        _, inputs = wire.batch_inputs(request, ASSOCIATION_READ_LIMIT)
        ids = [int(i["id"]) for i in inputs if str((i or {}).get("id", "")).isdigit()]
        results, errors = [], []
        for from_id, targets in self.associations.targets(from_type, to_type, ids).items():
            live = {t: f for t, f in targets.items() if t in self.stores[to_type].live}
            if not live:
                message = (
                    f"No {OBJECT_TYPES[to_type].singular.lower()} is associated with "
                    f"{OBJECT_TYPES[from_type].singular.lower()} {from_id}."
                )
                errors.append(
                    wire.record_error(message, "OBJECT_NOT_FOUND", {"fromObjectId": [str(from_id)]})
                )
                continue
            to = [
                {"toObjectId": t, "associationTypes": _type_specs(from_type, to_type, f)}
                for t, f in sorted(live.items())
            ]
            results.append({"from": {"id": str(from_id)}, "to": to})
        return wire.batch_response(results, errors, started)

    def batch_default(self, request: Request) -> Response:
        """Create the default (unlabeled) association for each from/to pair, both directions."""
        started = wire.now_ms()
        from_type, to_type = self._pair(request)
        _, inputs = wire.batch_inputs(request, ASSOCIATION_WRITE_LIMIT)
        results, errors = [], []
        for item in inputs:
            from_id, to_id = self._ids(item)
            error = self._check(from_type, from_id, to_type, to_id)
            if error:
                errors.append(error)
                continue
            self._link(from_type, from_id, to_type, to_id, primary=False)
            results.extend(self._default_results(from_type, from_id, to_type, to_id))
        return wire.batch_response(results, errors, started)

    def batch_create(self, request: Request) -> Response:
        """Create labelled associations (e.g. Primary); 201, or 207 with per-input errors."""
        started = wire.now_ms()
        from_type, to_type = self._pair(request)
        _, inputs = wire.batch_inputs(request, ASSOCIATION_WRITE_LIMIT)
        results, errors = [], []
        for item in inputs:
            from_id, to_id = self._ids(item)
            type_ids = {t.get("associationTypeId") for t in item.get("types") or []}
            allowed = set(ASSOCIATION_TYPES[(from_type, to_type)])
            error = self._check(from_type, from_id, to_type, to_id)
            if error is None and (not type_ids or not type_ids <= allowed):
                error = wire.record_error(
                    f"Invalid association types {sorted(type_ids)} for {from_type} to {to_type}",
                    "VALIDATION_ERROR",
                    {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
                )
            if error:
                errors.append(error)
                continue
            self.associations.link_by_type(from_type, from_id, to_id, type_ids)
            labels = ["Primary"] if ASSOCIATION_TYPES[(from_type, to_type)][1] in type_ids else []
            results.append(
                {
                    "fromObjectTypeId": OBJECT_TYPES[from_type].type_id,
                    "fromObjectId": str(from_id),
                    "toObjectTypeId": OBJECT_TYPES[to_type].type_id,
                    "toObjectId": str(to_id),
                    "labels": labels,
                }
            )
        return wire.batch_response(results, errors, started, ok_status=201)

    def associate_default(self, request: Request) -> Response:
        """Create one default association (PUT), both directions."""
        started = wire.now_ms()
        from_type, to_type = self._pair(request)
        from_id, to_id = int(request.params["id"]), int(request.params["to_id"])
        error = self._check(from_type, from_id, to_type, to_id)
        if error:
            raise wire.bad_request(error["message"])
        self._link(from_type, from_id, to_type, to_id, primary=False)
        return wire.batch_response(self._default_results(from_type, from_id, to_type, to_id), [], started)

    def list(self, request: Request) -> dict:
        """The associations of one record to a type."""
        from_type, to_type = self._pair(request)
        targets = self.associations.targets(from_type, to_type, [int(request.params["id"])])
        found = next(iter(targets.values()))
        return {
            "results": [
                {"toObjectId": t, "associationTypes": _type_specs(from_type, to_type, f)}
                for t, f in sorted(found.items())
                if t in self.stores[to_type].live
            ]
        }

    # --- internals ----------------------------------------------------------------------------
    def _pair(self, request: Request) -> tuple[str, str]:
        from_type = ALIASES.get(request.params["from_type"].lower())
        to_type = ALIASES.get(request.params["to_type"].lower())
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            raise wire.bad_request(
                f"Unsupported association {request.params['from_type']} to "
                f"{request.params['to_type']} in the sandbox"
            )
        return from_type, to_type

    @staticmethod
    def _ids(item: dict) -> tuple[int | None, int | None]:
        def one(side: str) -> int | None:
            raw = str(((item or {}).get(side) or {}).get("id", ""))
            return int(raw) if raw.isdigit() else None

        return one("from"), one("to")

    def _check(self, from_type: str, from_id: int | None, to_type: str, to_id: int | None) -> dict | None:
        context = {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]}
        for kind, record_id in ((from_type, from_id), (to_type, to_id)):
            if record_id is None or record_id not in self.stores[kind].live:
                message = f"No {OBJECT_TYPES[kind].singular.lower()} with id {record_id} exists."
                return wire.record_error(message, "VALIDATION_ERROR", context)
        return None

    def _link(self, from_type: str, from_id: int, to_type: str, to_id: int, primary: bool) -> None:
        if from_type in CHILD_TYPES:
            self.associations.link(from_type, from_id, to_id, primary)
        else:
            self.associations.link(to_type, to_id, from_id, primary)

    @staticmethod
    def _default_results(from_type: str, from_id: int, to_type: str, to_id: int) -> list[dict]:
        def result(a: str, a_id: int, b: str, b_id: int) -> dict:
            spec = {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": ASSOCIATION_TYPES[(a, b)][0],
            }
            return {"from": {"id": str(a_id)}, "to": {"id": str(b_id)}, "associationSpec": spec}

        return [result(from_type, from_id, to_type, to_id), result(to_type, to_id, from_type, from_id)]
