"""CRM search (``POST /crm/v3/objects/{type}/search``) over an ObjectStore, with HubSpot's limits.

Limits enforced as HubSpot documents them: at most 200 results a page, 5 filter groups of at
most 10 filters (25 in all), one sort rule, and no paging past the 10,000th result (400).
A range on the last-modified property is answered with a bisect on the store's order index.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from crmsync.sandbox.hubspot.schema import PropertyDef
from crmsync.sandbox.hubspot.store import ObjectStore, Record, key_id, parse_ms

SEARCH_MAX_LIMIT = 200
SEARCH_DEFAULT_LIMIT = 10
SEARCH_RESULT_CAP = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
MAX_SORTS = 1
OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}
)
_TEXT_PROPERTIES = ("name", "domain", "email", "firstname", "lastname", "dealname", "phone")


class SearchError(Exception):
    """The search request breaks one of HubSpot's rules: answered with a 400."""


@dataclass
class Filter:
    """One parsed filter, with its comparison values already typed for the property."""

    prop: PropertyDef
    operator: str
    value: object = None
    high: object = None
    values: list = field(default_factory=list)


def typed(prop: PropertyDef, raw: object) -> object:
    """A value in the property's comparison domain: numbers, epoch ms, or case-folded text."""
    if raw is None or raw == "":
        return None
    if prop.type == "number":
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    if prop.type in ("datetime", "date"):
        return parse_ms(raw)
    return str(raw).casefold()  # HubSpot compares strings case-insensitively in search


_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "EQ": operator.eq,
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def _matches(f: Filter, value: object) -> bool:
    op = f.operator
    if op == "HAS_PROPERTY":
        return value is not None
    if op == "NOT_HAS_PROPERTY":
        return value is None
    if op == "NEQ":
        return value != f.value
    if op == "NOT_IN":
        return value not in f.values
    if value is None:
        return False
    if op == "IN":
        return value in f.values
    try:
        if op == "BETWEEN":
            return f.value <= value <= f.high  # type: ignore[operator]
        return _COMPARE[op](value, f.value)
    except TypeError:  # a text value compared with a number filter, for instance
        return False


class Search:
    """One parsed search request against one store."""

    def __init__(self, store: ObjectStore, body: dict | None) -> None:
        body = body or {}
        self.store = store
        self.limit = self._int(body.get("limit"), SEARCH_DEFAULT_LIMIT, "limit")
        self.after = self._int(body.get("after"), 0, "after")
        if not 0 < self.limit <= SEARCH_MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {SEARCH_MAX_LIMIT}, got {self.limit}")
        if self.after >= SEARCH_RESULT_CAP:
            # Real HubSpot answers 400 here: search can never page past 10,000 results.
            raise SearchError(
                f"Paging is limited to the first {SEARCH_RESULT_CAP} results (after={self.after})"
            )
        self.properties = body.get("properties") or None
        self.query = (body.get("query") or "").casefold()
        self.groups = self._groups(body.get("filterGroups") or [])
        self.sort_prop, self.descending = self._sort(body.get("sorts") or [])

    def run(self) -> dict:
        """The search response: total, one page of results, and paging.next when more exist."""
        total, ids = self._page()
        results = [self.store.render(self.store.live[i], self.properties) for i in ids]
        response: dict = {"total": total, "results": results}
        end = self.after + len(ids)
        if ids and end < total:
            response["paging"] = {"next": {"after": str(end)}}
        return response

    # --- planning -----------------------------------------------------------------------------
    def _page(self) -> tuple[int, list[int]]:
        limit = min(self.limit, SEARCH_RESULT_CAP - self.after)
        lo, hi, residual = self._candidates()
        keys = self.store.keys
        by_modified = self.sort_prop is None or self.sort_prop.name == self.store.type.modified_property
        if by_modified and not residual and not self.query:
            total = hi - lo  # the fast path: a pure range on the modified date is a slice
            if self.descending:
                window = keys[max(lo, hi - self.after - limit) : hi - self.after][::-1]
            else:
                window = keys[lo + self.after : min(hi, lo + self.after + limit)]
            return total, [key_id(k) for k in window]
        if self._ids_only(residual):  # e.g. EQ on a timestamp, hs_object_id GT x, sorted by id: ints only
            ids = sorted(key_id(k) for k in keys[lo:hi])
            for f in residual[0] if residual else []:
                ids = [i for i in ids if _matches(f, float(i))]
            ids = ids[::-1] if self.descending else ids
            return len(ids), ids[self.after : self.after + limit]
        ordered = keys[lo:hi][::-1] if self.descending and by_modified else keys[lo:hi]
        matches = [r for r in (self.store.live[key_id(k)] for k in ordered) if self._keep(r, residual)]
        if self.sort_prop is not None and not by_modified:
            matches = self._sorted(matches, self.sort_prop)
        return len(matches), [r.id for r in matches[self.after : self.after + limit]]

    def _ids_only(self, residual: list[list[Filter]]) -> bool:
        sorted_by_id = self.sort_prop is not None and self.sort_prop.name == "hs_object_id"
        only_ids = len(residual) <= 1 and all(f.prop.name == "hs_object_id" for g in residual for f in g)
        return sorted_by_id and only_ids and not self.query

    def _candidates(self) -> tuple[int, int, list[list[Filter]]]:
        """The order-index slice to scan and the filter groups still to check on each record."""
        if len(self.groups) != 1:
            lo, hi = self.store.in_order()
            return lo, hi, self.groups
        lo_ms = hi_ms = None
        rest = []
        modified = self.store.type.modified_property
        for f in self.groups[0]:
            if f.prop.name != modified or f.operator not in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
                rest.append(f)
                continue
            low = {"EQ": f.value, "GTE": f.value, "BETWEEN": f.value, "GT": f.value + 1}.get(f.operator)
            high = {"EQ": f.value, "LTE": f.value, "BETWEEN": f.high, "LT": f.value - 1}.get(f.operator)
            lo_ms = low if low is not None and (lo_ms is None or low > lo_ms) else lo_ms
            hi_ms = high if high is not None and (hi_ms is None or high < hi_ms) else hi_ms
        lo, hi = self.store.in_order(lo_ms, hi_ms)
        return lo, hi, [rest] if rest else []

    def _keep(self, record: Record, groups: list[list[Filter]]) -> bool:
        if self.query and not any(
            self.query in (record.props.get(name) or "").casefold() for name in _TEXT_PROPERTIES
        ):
            return False
        if not groups:
            return True
        value = self._typed_value
        return any(all(_matches(f, value(record, f.prop)) for f in g) for g in groups)

    def _sorted(self, records: list[Record], prop: PropertyDef) -> list[Record]:
        def key(record: Record) -> tuple:
            value = self._typed_value(record, prop)
            return (value is None, value if value is not None else 0, record.id)

        ordered = sorted(records, key=key)
        return ordered[::-1] if self.descending else ordered

    def _typed_value(self, record: Record, prop: PropertyDef) -> object:
        """A record's value in the comparison domain, straight from the ints where HubSpot derives it."""
        if prop.name == "hs_object_id":
            return float(record.id)
        if prop.name == self.store.type.modified_property:
            return record.modified
        if prop.name == "createdate":
            return record.created
        return typed(prop, record.props.get(prop.name))

    # --- parsing ------------------------------------------------------------------------------
    @staticmethod
    def _int(raw: object, default: int, name: str) -> int:
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SearchError(f"{name} must be an integer, got {raw!r}") from None

    def _prop(self, name: object) -> PropertyDef:
        prop = self.store.type.by_name.get(str(name))
        if prop is None:
            raise SearchError(f"Property {name!r} does not exist on {self.store.type.name}")
        return prop

    def _groups(self, raw_groups: Iterable[dict]) -> list[list[Filter]]:
        groups = [list((g or {}).get("filters") or []) for g in raw_groups]
        if len(groups) > MAX_FILTER_GROUPS:
            raise SearchError(f"Too many filter groups ({len(groups)}); the maximum is {MAX_FILTER_GROUPS}")
        if any(len(g) > MAX_FILTERS_PER_GROUP for g in groups):
            raise SearchError(f"A filter group may hold at most {MAX_FILTERS_PER_GROUP} filters")
        if sum(len(g) for g in groups) > MAX_FILTERS_TOTAL:
            raise SearchError(f"A search may hold at most {MAX_FILTERS_TOTAL} filters")
        return [[self._filter(f) for f in g] for g in groups if g]

    def _filter(self, raw: dict) -> Filter:
        prop = self._prop(raw.get("propertyName"))
        operator = str(raw.get("operator") or "EQ")
        if operator not in OPERATORS:
            raise SearchError(f"Unsupported filter operator {operator!r}")
        f = Filter(prop, operator)
        if operator in ("IN", "NOT_IN"):
            f.values = [typed(prop, v) for v in raw.get("values") or []]
            if not f.values:
                raise SearchError(f"{operator} on {prop.name} needs a non-empty values list")
        elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            f.value = typed(prop, raw.get("value"))
            if f.value is None:
                raise SearchError(f"{operator} on {prop.name} needs a valid value, got {raw.get('value')!r}")
            if operator == "BETWEEN":
                f.high = typed(prop, raw.get("highValue"))
                if f.high is None:
                    raise SearchError(f"BETWEEN on {prop.name} needs a highValue")
        return f

    def _sort(self, sorts: list) -> tuple[PropertyDef | None, bool]:
        if len(sorts) > MAX_SORTS:
            raise SearchError("Only one sort rule is supported")  # a real HubSpot limit
        if not sorts:
            return None, False
        rule = sorts[0]
        if isinstance(rule, str):  # the short form: "createdate" or "-createdate"
            return self._prop(rule.lstrip("-")), rule.startswith("-")
        return self._prop(rule.get("propertyName")), rule.get("direction") == "DESCENDING"
