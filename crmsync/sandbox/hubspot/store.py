"""The records of one HubSpot object type, kept in memory for the sandbox.

Live records sit in a dict (id -> record) and in a sorted list of integer *order keys*
(last-modified ms, then a scrambled id), so a search on the last-modified date is a bisect
and a slice even at a million records. Ties on the timestamp are deliberately NOT in id
order: HubSpot promises no tie order, and the connector must not rely on one.
"""

from __future__ import annotations

import time
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from crmsync.sandbox.hubspot.schema import ObjectType, PropertyDef

_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
_SCRAMBLE = 0x5DEECE66D  # odd, so multiplying by it mod 2**40 is a bijection on ids
_UNSCRAMBLE = pow(_SCRAMBLE, -1, 1 << _ID_BITS)


def order_key(modified_ms: int, record_id: int) -> int:
    """The record's place in modification order: timestamp first, then a fixed shuffle of ids."""
    return (modified_ms << _ID_BITS) | ((record_id * _SCRAMBLE) & _ID_MASK)


def key_id(key: int) -> int:
    """The record id inside an order key."""
    return ((key & _ID_MASK) * _UNSCRAMBLE) & _ID_MASK


def key_bound(modified_ms: int) -> int:
    """The smallest order key at ``modified_ms``: bisect with it to find a timestamp range."""
    return modified_ms << _ID_BITS


def iso(ms: int) -> str:
    """HubSpot's timestamp format: ISO 8601 UTC with milliseconds and a Z."""
    secs, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{milli:03d}Z"


def parse_ms(value: object) -> int | None:
    """Epoch milliseconds from what HubSpot accepts for a datetime: ms digits or ISO 8601."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Record:
    """One CRM record: ids and timestamps as ints, property values as HubSpot strings."""

    __slots__ = ("archived_at", "created", "id", "modified", "props")

    def __init__(self, record_id: int, created: int, modified: int, props: dict[str, str]) -> None:
        self.id = record_id
        self.created = created
        self.modified = modified
        self.archived_at: int | None = None
        self.props = props


class ObjectStore:
    """All records of one object type, with the modification-order index and unique-value indexes."""

    def __init__(self, object_type: ObjectType, first_id: int) -> None:
        self.type = object_type
        self.live: dict[int, Record] = {}
        self.archived: dict[int, Record] = {}
        self.keys: list[int] = []  # order keys of live records, sorted
        self.ids: list[int] = []  # live ids, ascending (new ids are always the largest), for listing
        self._next_id = first_id
        self._unique: dict[str, dict[str, int]] = {}  # built on first use, then maintained

    # --- reading ------------------------------------------------------------------------------
    def value(self, record: Record, name: str) -> str | None:
        """A property's wire value, including the ones HubSpot derives (id, create and modify dates)."""
        if name == "hs_object_id":
            return str(record.id)
        if name == "createdate":
            return iso(record.created)
        if name == self.type.modified_property:
            return iso(record.modified)
        return record.props.get(name)

    def render(self, record: Record, properties: Iterable[str] | None) -> dict:
        """The record as a SimplePublicObject: requested properties (known ones, null when empty)."""
        names = list(properties) if properties else list(self.type.default_properties)
        names += ["hs_object_id", "createdate", self.type.modified_property]
        props = {name: self.value(record, name) for name in names if name in self.type.by_name}
        body = {
            "id": str(record.id),
            "properties": props,
            "createdAt": iso(record.created),
            "updatedAt": iso(record.modified),
            "archived": record.archived_at is not None,
        }
        if record.archived_at is not None:
            body["archivedAt"] = iso(record.archived_at)
        return body

    def find_unique(self, name: str, value: str) -> Record | None:
        """The live record holding ``value`` in a unique property (emails compare case-insensitively)."""
        record_id = self._index(name).get(self.normal(name, value))
        return self.live.get(record_id) if record_id is not None else None

    def in_order(self, lo_ms: int | None = None, hi_ms: int | None = None) -> tuple[int, int]:
        """The slice of ``keys`` whose timestamps lie in [lo_ms, hi_ms] (None: unbounded)."""
        lo = 0 if lo_ms is None else bisect_left(self.keys, key_bound(lo_ms))
        hi = len(self.keys) if hi_ms is None else bisect_left(self.keys, key_bound(hi_ms + 1))
        return lo, max(lo, hi)

    # --- writing ------------------------------------------------------------------------------
    def seed(self, rows: Iterator[tuple[dict[str, str], int, int]]) -> list[int]:
        """Append seeded records (props, created ms, modified ms); one sort at the end, no copies."""
        ids = []
        for props, created, modified in rows:
            record = Record(self._take_id(), created, modified, props)
            self.live[record.id] = record
            self.keys.append(order_key(modified, record.id))
            ids.append(record.id)
        self.keys.sort()
        self.ids.extend(ids)
        self._unique.clear()
        return ids

    def create(self, props: dict[str, str], now_ms: int) -> Record:
        """A new record with already validated, normalised properties."""
        record = Record(self._take_id(), now_ms, now_ms, {})
        self.live[record.id] = record
        self.ids.append(record.id)
        self._set(record, props)
        insort(self.keys, order_key(now_ms, record.id))
        return record

    def update(self, record: Record, props: dict[str, str], now_ms: int) -> bool:
        """Apply validated properties; bump the modified time only if a value really changed."""
        changed = {k: v for k, v in props.items() if record.props.get(k, "") != v}
        if not changed:
            return False  # HubSpot does not touch hs_lastmodifieddate for a no-op write
        self._set(record, changed)
        self._move(record, max(now_ms, record.modified))
        return True

    def archive(self, record: Record, now_ms: int) -> None:
        """Move a record to the archive: out of lists, search and unique indexes."""
        self._drop_key(record)
        del self.live[record.id]
        del self.ids[bisect_left(self.ids, record.id)]
        for name, index in self._unique.items():
            value = record.props.get(name)
            if value and index.get(self.normal(name, value)) == record.id:
                del index[self.normal(name, value)]
        record.archived_at = now_ms
        self.archived[record.id] = record

    # --- validation ---------------------------------------------------------------------------
    def validate(self, props: dict, record: Record | None = None) -> tuple[dict[str, str], list[dict]]:
        """Normalised values and HubSpot-style property errors ({name, error, message}) for a write."""
        clean: dict[str, str] = {}
        problems: list[dict] = []
        for name, raw in (props or {}).items():
            prop = self.type.by_name.get(name)
            value = "" if raw is None else str(raw)
            problem = self._check(prop, name, value)
            if problem is None and prop is not None:
                value = self._normal_value(prop, value)
                problem = self._check_unique(prop, value, record)
            if problem:
                problems.append({"name": name, "error": problem[0], "message": problem[1]})
            else:
                clean[name] = value
        return clean, problems

    def _check(self, prop: PropertyDef | None, name: str, value: str) -> tuple[str, str] | None:
        if prop is None:
            return "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
        if prop.read_only:
            return "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set."
        if value == "":
            return None
        if prop.type == "enumeration" and value not in prop.options:
            # Case-sensitive, exactly like HubSpot: "active" is not the option "Active".
            allowed = ", ".join(f'label: "{o}" value: "{o}"' for o in prop.options)
            return "INVALID_OPTION", f"{value} was not one of the allowed options: [{allowed}]"
        if prop.type == "number":
            try:
                float(value)
            except ValueError:
                return "INVALID_DECIMAL", f"{value} is not a valid number for {name}"
        if prop.type in ("datetime", "date") and parse_ms(value) is None:
            return "INVALID_DATE", f"{value} is not a valid date for {name}"
        return None

    def _check_unique(self, prop: PropertyDef, value: str, record: Record | None) -> tuple[str, str] | None:
        if not value or prop.name not in self.type.unique_properties:
            return None
        holder = self.find_unique(prop.name, value)
        if holder is not None and (record is None or holder.id != record.id):
            return "VALUE_NOT_UNIQUE", f"{value} is already used as {prop.name} by {holder.id}"
        return None

    def _normal_value(self, prop: PropertyDef, value: str) -> str:
        if value and prop.type in ("datetime", "date"):
            return iso(parse_ms(value) or 0)
        return self.normal(prop.name, value)

    # --- internals ----------------------------------------------------------------------------
    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def normal(name: str, value: str) -> str:
        """A unique value as the index compares it: HubSpot lower-cases emails."""
        return value.strip().lower() if name == "email" else value

    def _index(self, name: str) -> dict[str, int]:
        index = self._unique.get(name)
        if index is None:  # built lazily: a million-record seed should not pay for it up front
            index = {self.normal(name, r.props[name]): r.id for r in self.live.values() if r.props.get(name)}
            self._unique[name] = index
        return index

    def _set(self, record: Record, props: dict[str, str]) -> None:
        for name, value in props.items():
            index = self._unique.get(name)
            old = record.props.get(name)
            if index is not None and old and index.get(self.normal(name, old)) == record.id:
                del index[self.normal(name, old)]
            if value == "":
                record.props.pop(name, None)
                continue
            record.props[name] = value
            if index is not None:
                index[self.normal(name, value)] = record.id

    def _drop_key(self, record: Record) -> None:
        key = order_key(record.modified, record.id)
        position = bisect_left(self.keys, key)
        if position < len(self.keys) and self.keys[position] == key:
            del self.keys[position]

    def _move(self, record: Record, modified_ms: int) -> None:
        self._drop_key(record)
        record.modified = modified_ms
        insort(self.keys, order_key(modified_ms, record.id))
