"""SOQL bound to an object's fields and run against the store, bisecting (SystemModstamp, Id) ranges."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmsync.sandbox.salesforce.schema import Field, SObjectType, normalize_id, parse_id
from crmsync.sandbox.salesforce.soql import Literal, Query, SoqlError
from crmsync.sandbox.salesforce.store import HIGHEST, LOWEST, Key, ObjectStore

_TEXT_TYPES = {"string", "url", "phone", "email", "picklist", "textarea"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# --- binding -------------------------------------------------------------------------------
@dataclass
class Bound:
    """A query checked against its object: canonical fields, a predicate and a key range to scan."""

    sobject: SObjectType
    fields: list[str] | None
    predicate: Callable[[Any], bool] | None
    lo: Key | None
    hi: Key | None
    ids: set[int] | None  # record indexes named by a top-level Id = / Id IN term: no scan needed
    order: list[tuple[str, bool, bool | None]]
    limit: int | None
    offset: int | None


def bind(q: Query, sobject: SObjectType) -> Bound:
    """Resolve names and literal types against the object (INVALID_FIELD etc. on mismatch)."""
    fields = None
    if q.fields is not None:
        fields = [_field(sobject, name).name for name in q.fields]
        for name in fields:
            if fields.count(name) > 1:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
    order = [(_field(sobject, name).name, desc, nulls) for name, desc, nulls in q.order]
    predicate = _compile(q.where, sobject) if q.where is not None else None
    lo, hi = _key_range(q.where, sobject)
    return Bound(sobject, fields, predicate, lo, hi, _named_ids(q.where, sobject), order, q.limit, q.offset)


def _field(sobject: SObjectType, name: str) -> Field:
    f = sobject.field(name)
    if f is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject.name}'. If you are "
            "attempting to use a custom field, be sure to append the '__c' after the custom field "
            "name. Please reference your WSDL or the describe call for the appropriate names.",
        )
    return f


def _value(f: Field, lit: Literal) -> Any:
    """The literal as the comparable form of this field's values."""
    if lit.kind == "null":
        return None
    expected = {
        "datetime": "datetime",
        "date": "date",
        "boolean": "bool",
        "int": "number",
        "currency": "number",
        "double": "number",
    }.get(f.type, "string")
    if lit.kind != expected:
        article = "dateTime" if expected == "datetime" else expected
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' must be of type "
            f"{article} and should not be enclosed in quotes"
            if lit.kind == "string"
            else f"value of filter criterion for field '{f.name}' must be of type {article}",
        )
    if f.type in ("id", "reference"):
        full = normalize_id(lit.value)
        if full is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {lit.value}")
        return full
    if f.type in _TEXT_TYPES:
        return lit.value.casefold()
    return lit.value


def _norm(f: Field) -> Callable[[Any], Any]:
    return (lambda v: v.casefold()) if f.type in _TEXT_TYPES else (lambda v: v)


def _compile(node: Any, sobject: SObjectType) -> Callable[[Any], bool]:
    kind = node[0]
    if kind in ("and", "or", "not"):
        return _compile_logic(node, sobject)
    f = _field(sobject, node[1])
    name, norm = f.name, _norm(f)
    if kind == "in":
        values, negate = {_value(f, lit) for lit in node[3]}, node[2]
        if negate:
            return lambda r: (v := r[name]) is None or norm(v) not in values
        return lambda r: (v := r[name]) is not None and norm(v) in values
    if kind == "like":
        if node[2].kind != "string":
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be a string")
        regex = _like_regex(node[2].value)
        return lambda r: (v := r[name]) is not None and regex.fullmatch(str(v)) is not None
    op, value = node[2], _value(f, node[3])
    if value is None:
        if op not in ("=", "!=", "<>"):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: 'null' after '{op}'")
        return (lambda r: r[name] is None) if op == "=" else (lambda r: r[name] is not None)
    fn = _OPS[op]
    if op in ("!=", "<>"):
        return lambda r: (v := r[name]) is None or fn(norm(v), value)
    return lambda r: (v := r[name]) is not None and fn(norm(v), value)


def _compile_logic(node: Any, sobject: SObjectType) -> Callable[[Any], bool]:
    kind = node[0]
    if kind == "not":
        inner = _compile(node[1], sobject)
        return lambda r: not inner(r)
    parts = [_compile(n, sobject) for n in node[1]]
    if kind == "and":
        return lambda r: all(p(r) for p in parts)
    return lambda r: any(p(r) for p in parts)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def _key_range(where: Any, sobject: SObjectType) -> tuple[Key | None, Key | None]:
    """Bounds on (SystemModstamp, Id) implied by top-level AND terms, so scans can bisect.

    The full predicate is still applied, so this only needs to be a necessary condition. It
    recognises ``SystemModstamp op T`` and the keyset form
    ``SystemModstamp > T OR (SystemModstamp = T AND Id > 'x')``.
    """
    terms = where[1] if where is not None and where[0] == "and" else [where] if where is not None else []
    lo: Key | None = None
    hi: Key | None = None
    for term in terms:
        bounds = _term_bounds(term, sobject)
        if bounds is None:
            continue
        t_lo, t_hi = bounds
        if t_lo and (lo is None or t_lo > lo):
            lo = t_lo
        if t_hi and (hi is None or t_hi < hi):
            hi = t_hi
    return lo, hi


def _named_ids(where: Any, sobject: SObjectType) -> set[int] | None:
    """Indexes from top-level ``Id = 'x'`` / ``Id IN (...)`` terms (Id is indexed in Salesforce too)."""
    terms = where[1] if where is not None and where[0] == "and" else [where] if where is not None else []
    found: set[int] | None = None
    for term in terms:
        if term[0] == "cmp" and term[2] == "=":
            literals = [term[3]]
        elif term[0] == "in" and not term[2]:
            literals = term[3]
        else:
            continue
        if term[1].lower() != "id":
            continue
        parsed = [parse_id(lit.value) if lit.kind == "string" else None for lit in literals]
        ids = {p[1] for p in parsed if p is not None and p[0] == sobject.prefix}
        found = ids if found is None else found & ids
    return found


def _term_bounds(term: Any, sobject: SObjectType) -> tuple[Key | None, Key | None] | None:
    def stamp(node: Any, ops: tuple[str, ...]) -> Any:
        if node[0] == "cmp" and node[1].lower() == "systemmodstamp" and node[2] in ops:
            return node[3].value if node[3].kind == "datetime" else None
        return None

    if term[0] == "cmp":
        ts = stamp(term, (">", ">=", "<", "<=", "="))
        if ts is None:
            return None
        op = term[2]
        lo = (ts, HIGHEST) if op == ">" else (ts, LOWEST) if op in (">=", "=") else None
        hi = (ts, LOWEST) if op == "<" else (ts, HIGHEST) if op in ("<=", "=") else None
        return lo, hi
    if term[0] == "or" and len(term[1]) == 2:
        first, second = term[1]
        ts = stamp(first, (">",))
        if ts is None or second[0] != "and" or len(second[1]) != 2:
            return None
        eq, after = second[1]
        if (
            stamp(eq, ("=",)) != ts
            or after[0] != "cmp"
            or after[1].lower() != "id"
            or after[2] not in (">", ">=")
        ):
            return None
        parsed = parse_id(after[3].value) if after[3].kind == "string" else None
        if parsed is None or parsed[0] != sobject.prefix:
            return (ts, LOWEST), None
        return (ts, parsed[1] + (1 if after[2] == ">" else 0)), None
    return None


# --- running -------------------------------------------------------------------------------
_STORAGE_ORDERS = ([("SystemModstamp", False)], [("SystemModstamp", False), ("Id", False)], [])


def run(store: ObjectStore, q: Bound, include_deleted: bool, pk_order: bool = False) -> list[int]:
    """Indexes of the matching records, ordered and limited as the query says."""
    with store.org.lock:
        refs = []
        predicate = q.predicate
        if q.ids is None:
            candidates: Any = store.scan(q.lo, q.hi)
        else:
            named = [i for i in q.ids if store.get(i) is not None]
            candidates = sorted(named, key=lambda i: (store.view(i)["SystemModstamp"], i))
        for index in candidates:
            record = store.view(index)
            if not include_deleted and record["IsDeleted"]:
                continue
            if predicate is None or predicate(record):
                refs.append(index)
        order = [(name, desc) for name, desc, _ in q.order]
        if order not in _STORAGE_ORDERS or any(n is not None for _, _, n in q.order):
            for name, desc, nulls_first in reversed(q.order):
                refs.sort(key=_sort_key(store, name, desc, nulls_first), reverse=desc)
        elif not order and pk_order:
            refs.sort()  # Bulk API results come in PK-chunk order, not modstamp order
    start = q.offset or 0
    stop = start + q.limit if q.limit is not None else None
    return refs[start:stop]


def _sort_key(store: ObjectStore, name: str, desc: bool, nulls_first: bool | None) -> Callable[[int], Any]:
    norm = _norm(store.sobject.fields[name])
    first = (not desc) if nulls_first is None else nulls_first  # SOQL: ASC puts nulls first, DESC last
    null_rank = 0 if first != desc else 2

    def key(index: int) -> Any:
        value = store.view(index)[name]
        return (null_rank, 0) if value is None else (1, norm(value))

    return key
