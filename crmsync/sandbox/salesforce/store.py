"""The sandbox org's records: seeded lazily, kept in (SystemModstamp, Id) order, written in batches.

Seeded record ``i`` is a pure function of ``i`` (seed.py), so a store of any size holds only the
records that were written. Seeded records are already in (SystemModstamp, Id) order, because seed
timestamps never decrease and ids encode the index. Every write batch gets one timestamp later than
anything stored (one transaction, like Salesforce) and is appended in Id order, so the written
records form a second sorted run; range scans bisect both runs.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from crmsync.sandbox import seed
from crmsync.sandbox.salesforce.schema import (
    EXTERNAL_ID,
    OBJECTS,
    PREFIXES,
    SObjectType,
    WriteError,
    coerce,
    make_id,
    normalize_id,
    parse_id,
    seeded_index_of_external_id,
    seeded_record,
)

Key = tuple[datetime, int]  # (SystemModstamp, record index): the storage order
LOWEST, HIGHEST = -1, 1 << 62  # index sentinels for "any id" at a given timestamp


@dataclass
class Op:
    """One record of a write request: create, update (by Id), upsert (by external id) or delete."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Outcome:
    """One record's result: the SaveResult/UpsertResult shape, before JSON."""

    id: str | None
    success: bool
    created: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)


class _SeedView:
    """A seeded record for predicates: cheap fields computed directly, the rest built on first use."""

    __slots__ = ("_full", "_index", "_store")

    def __init__(self, store: ObjectStore, index: int) -> None:
        self._store, self._index, self._full = store, index, None

    def __getitem__(self, name: str) -> Any:
        if name in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
            return seed.modified_at(self._index)
        if name == "Id":
            return make_id(self._store.sobject.prefix, self._index)
        if name == "IsDeleted":
            return False
        if self._full is None:
            self._full = self._store.seeded(self._index)
        return self._full[name]


class Clock:
    """Millisecond timestamps that always move forward and stay after every seeded timestamp."""

    def __init__(self, floor: datetime) -> None:
        self._last = floor

    def tick(self) -> datetime:
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last = max(now, self._last + timedelta(milliseconds=1))
        return self._last


class ObjectStore:
    """One object's records."""

    def __init__(self, org: Org, sobject: SObjectType, seeded: int) -> None:
        self.org, self.sobject, self.n_seeded = org, sobject, seeded
        self.next_index = seeded
        self.records: dict[int, dict[str, Any]] = {}  # written (or touched) records by index
        self._ext: dict[str, int] = {}  # external id -> index, for records in self.records
        self._written: list[tuple[datetime, int, int]] = []  # (ts, index, seq), append-only
        self._seq: dict[int, int] = {}  # index -> seq of its live entry in _written
        self._counter = 0

    # --- reading ---------------------------------------------------------------------------
    def seeded(self, index: int) -> dict[str, Any]:
        return seeded_record(self.sobject, index, self.org.seeded_accounts)

    def get(self, index: int) -> dict[str, Any] | None:
        """The record at ``index`` (deleted ones included), or None."""
        record = self.records.get(index)
        if record is None and 0 <= index < self.n_seeded:
            return self.seeded(index)
        return record

    def view(self, index: int) -> Any:
        """The record for evaluating a WHERE clause, without building seeded records needlessly."""
        record = self.records.get(index)
        return record if record is not None else _SeedView(self, index)

    def index_of(self, record_id: str) -> int | None:
        """The index of an existing record with this 15/18-character id, or None."""
        parsed = parse_id(record_id) if isinstance(record_id, str) else None
        if parsed is None or parsed[0] != self.sobject.prefix:
            return None
        index = parsed[1]
        return index if index in self.records or index < self.n_seeded else None

    def lookup_external(self, value: str) -> int | None:
        """The live record whose ClientSuccess_Id__c equals ``value`` (case-sensitive unique index)."""
        if value in self._ext:
            return self._ext[value]
        index = seeded_index_of_external_id(self.sobject, value)
        if index is not None and index < self.n_seeded and index not in self.records:
            return index
        return None

    def scan(self, lo: Key | None = None, hi: Key | None = None) -> Iterator[int]:
        """Indexes of records with lo <= (SystemModstamp, index) <= hi, in that order."""
        n = self.n_seeded
        start = bisect_left(range(n), lo, key=_seed_key) if lo else 0
        stop = bisect_left(range(n), (hi[0], hi[1] + 1), key=_seed_key) if hi else n
        records = self.records
        for index in range(start, stop):
            if index not in records:
                yield index
        written = self._written
        start = bisect_left(written, lo, key=_entry_key) if lo else 0
        for ts, index, seq in islice(written, start, None):
            if hi and (ts, index) > hi:
                break
            if self._seq.get(index) == seq:
                yield index

    # --- writing ---------------------------------------------------------------------------
    def apply(self, ops: list[Op], all_or_none: bool = False) -> list[Outcome]:
        """Apply a batch as one transaction (one timestamp); per-record errors unless all_or_none."""
        with self.org.lock:
            ts = self.org.clock.tick()
            staged: dict[int, dict[str, Any]] = {}
            claims: dict[str, int] = {}  # external ids taken within this batch
            duplicates = _duplicate_external_ids(ops)
            outcomes = []
            for op in ops:
                try:
                    if op.kind == "upsert" and op.values.get(EXTERNAL_ID) in duplicates:
                        value = op.values[EXTERNAL_ID]
                        raise WriteError(
                            "DUPLICATE_EXTERNAL_ID",
                            f"Duplicate external id specified: {value}",
                            [EXTERNAL_ID],
                        )
                    index, record, created = self._plan(op, staged, claims, ts)
                except WriteError as exc:
                    outcomes.append(Outcome(None, False, errors=[exc.as_dict()]))
                    continue
                staged[index] = record
                outcomes.append(Outcome(record["Id"], True, created))
            if all_or_none and not all(o.success for o in outcomes):
                return [_rolled_back(o) for o in outcomes]
            for index in sorted(staged):
                self._commit(index, staged[index], ts)
            return outcomes

    def _plan(self, op: Op, staged: dict, claims: dict, ts: datetime) -> tuple[int, dict[str, Any], bool]:
        """Work out the new state of one record, validating it against the store and the batch."""
        index: int | None
        if op.kind == "create":
            index = None
        elif op.kind == "upsert":
            value = op.values.get(EXTERNAL_ID)
            if value in (None, ""):
                raise WriteError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{EXTERNAL_ID}]", [EXTERNAL_ID]
                )
            index = self._owner(str(value), staged, claims)
        else:
            index = self._existing(op.id or "", staged)
        created = index is None
        if index is None:
            index, record = self.next_index, self._blank(ts)
            self.next_index += 1
            record["Id"] = make_id(self.sobject.prefix, index)
        else:
            record = dict(staged.get(index) or self.get(index) or {})
        if op.kind == "delete":
            record["IsDeleted"] = True
            return index, record, False
        for name, raw in op.values.items():
            record[name] = self._value(name, raw)
        self._check(record, index, staged, claims)
        if self.sobject.name == "Contact":
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        return index, record, created

    def _existing(self, record_id: str, staged: dict) -> int:
        index = self.index_of(record_id)
        if normalize_id(record_id) is None:
            raise WriteError(
                "MALFORMED_ID", f"{self.sobject.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        if index is None:
            raise WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
        record = staged.get(index) or self.get(index)
        if record is None or record["IsDeleted"]:
            raise WriteError("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
        return index

    def _owner(self, value: str, staged: dict, claims: dict) -> int | None:
        """Which record holds this external id, counting what this batch already changed."""
        if value in claims:
            return claims[value]
        index = self.lookup_external(value)
        if index is not None and index in staged and staged[index].get(EXTERNAL_ID) != value:
            return None  # released earlier in this batch
        return index

    def _value(self, name: str, raw: Any) -> Any:
        f = self.sobject.fields[name]
        if not f.writable:
            raise WriteError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {name}. Please "
                "check the security settings of this field and verify that it is read/write for "
                "your profile or permission set.",
                [name],
            )
        value = coerce(f, raw)
        if f.reference_to and value is not None:
            value = self.org.reference(f, value)
        return value

    def _check(self, record: dict[str, Any], index: int, staged: dict, claims: dict) -> None:
        missing = [
            f.name for f in self.sobject.fields.values() if f.required and record.get(f.name) in (None, "")
        ]
        if missing:
            raise WriteError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        value = record.get(EXTERNAL_ID)
        if value is not None:
            owner = self._owner(value, staged, claims)
            if owner is not None and owner != index:
                raise WriteError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {EXTERNAL_ID} duplicates value on "
                    f"record with id: {make_id(self.sobject.prefix, owner)}",
                    [EXTERNAL_ID],
                )
            claims[value] = index
        previous = (staged.get(index) or self.get(index) or {}).get(EXTERNAL_ID)
        if previous is not None and previous != value and claims.get(previous) == index:
            del claims[previous]

    def _blank(self, ts: datetime) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(self.sobject.fields)
        record.update(IsDeleted=False, CreatedDate=ts)
        return record

    def _commit(self, index: int, record: dict[str, Any], ts: datetime) -> None:
        old = self.get(index)
        if old is not None and old.get(EXTERNAL_ID) and self._ext.get(old[EXTERNAL_ID]) == index:
            del self._ext[old[EXTERNAL_ID]]
        record["SystemModstamp"] = record["LastModifiedDate"] = ts
        if record.get(EXTERNAL_ID) and not record["IsDeleted"]:
            self._ext[record[EXTERNAL_ID]] = index
        self.records[index] = record
        self._counter += 1
        self._seq[index] = self._counter
        self._written.append((ts, index, self._counter))
        if len(self._written) > 2 * len(self._seq) + 10_000:  # drop superseded entries now and then
            self._written = [e for e in self._written if self._seq.get(e[1]) == e[2]]


def _seed_key(index: int) -> Key:
    return (seed.modified_at(index), index)


def _entry_key(entry: tuple[datetime, int, int]) -> Key:
    return (entry[0], entry[1])


def _duplicate_external_ids(ops: list[Op]) -> set[Any]:
    seen: set[Any] = set()
    dup: set[Any] = set()
    for op in ops:
        value = op.values.get(EXTERNAL_ID) if op.kind == "upsert" else None
        if value is not None:
            (dup if value in seen else seen).add(value)
    return dup


def _rolled_back(outcome: Outcome) -> Outcome:
    if not outcome.success:
        return outcome
    return Outcome(
        None,
        False,
        errors=[
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was "
                "using AllOrNone header",
                "fields": [],
            }
        ],
    )


class Org:
    """All objects of one sandbox org, one lock and one clock."""

    def __init__(self, accounts: int = 0, contacts: int = 0, opportunities: int = 0) -> None:
        self.lock = threading.RLock()
        self.seeded_accounts = accounts
        counts = {"Account": accounts, "Contact": contacts, "Opportunity": opportunities}
        self.objects = {name: ObjectStore(self, OBJECTS[name], n) for name, n in counts.items()}
        self._by_lower = {name.lower(): store for name, store in self.objects.items()}
        biggest = max(counts.values())
        self.clock = Clock(seed.modified_at(max(biggest - 1, 0)) + timedelta(seconds=1))

    def store(self, name: str) -> ObjectStore | None:
        """The object's store by (case-insensitive) name."""
        return self._by_lower.get(name.lower())

    def reference(self, f: Any, value: str) -> str:
        """Validate a lookup value (e.g. AccountId): a live record of the referenced object."""
        full = normalize_id(value)
        target = self.objects[f.reference_to]
        if full is None or full[:3] not in PREFIXES:
            raise WriteError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
        if full[:3] != target.sobject.prefix:
            raise WriteError(
                "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", [f.name]
            )
        index = target.index_of(full)
        record = target.get(index) if index is not None else None
        if record is None:
            raise WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        if record["IsDeleted"]:
            raise WriteError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
        return full
