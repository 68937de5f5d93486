"""Pull: CRM changes since the cursor, in bounded chunks, merged into the store.

``extract_chunk`` reads, ``transform`` maps, ``decide_pull`` decides what each record does
(link, create, update, conflict, quarantine) and the store commits it with the cursor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crmsync.connectors.base import Cursor
from crmsync.mapping.compile import (
    EXTERNAL_ID,
    MODIFIED_AT,
    canonical,
    records_frame,
    same,
    to_cs,
    unreadable,
)
from crmsync.store.types import PARENT_SYNCED, PullBatch
from crmsync.sync.merge import base_frame, merge_pull
from crmsync.sync.plan import cs_kind

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from crmsync.connectors.base import Connector, ExternalRecord, Page
    from crmsync.store import Store
    from crmsync.sync.plan import ObjectPlan

CHUNK_SIZE = 2000  # records per chunk: a multiple of every page size, so chunks end on page edges
OVERLAP = timedelta(minutes=2)  # re-read this much before the cursor: late commits and clock skew


@dataclass
class PullChunk:
    """One bounded chunk of CRM records: as a frame, their parents, and the cursor after them."""

    frame: pd.DataFrame
    parents: dict[str, str]
    cursor: tuple[datetime, str] | None
    more: bool = False  # the stream has more records after this chunk

    @property
    def empty(self) -> bool:
        return self.frame.empty


def start_cursor(position: tuple[datetime | None, str], since: datetime | None = None) -> Cursor:
    """Where a pull starts: the stored position less the overlap window, or a backfill's start."""
    if since is not None:
        return Cursor(since, "")
    at, _ = position
    return Cursor(at - OVERLAP, "") if at else Cursor()


class ChangeStream:
    """The run's one stream of changed pages, cut into chunks of at most ``size`` records.

    Paging never restarts between chunks. A page larger than a chunk (a Bulk API 2.0 results
    page) is split; a chunk that ends inside a page carries the cursor of the last page it
    finished, so a crash re-reads a little rather than skipping anything.
    """

    def __init__(self, pages: Iterator[Page], size: int = CHUNK_SIZE):
        self._pages, self._size = pages, size
        self._buffer: list[ExternalRecord] = []
        self._page_cursor: Cursor | None = None
        self.exhausted = False

    def take(self) -> tuple[list[ExternalRecord], tuple[datetime, str] | None]:
        """The next records (at most ``size``) and the cursor a commit of them may record."""
        records: list[ExternalRecord] = []
        cursor = None
        while len(records) < self._size:
            if not self._buffer:
                page = next(self._pages, None)
                if page is None:
                    self.exhausted = True
                    break
                self._buffer, self._page_cursor = list(page.records), page.cursor
            taken = self._buffer[: self._size - len(records)]
            self._buffer = self._buffer[len(taken) :]
            records.extend(taken)
            if not self._buffer and self._page_cursor and self._page_cursor.modified_at:
                cursor = (self._page_cursor.modified_at, self._page_cursor.id)
        return records, cursor


def open_changes(
    connector: Connector, plan: ObjectPlan, since: Cursor, until: datetime | None = None
) -> ChangeStream:
    """The run's stream of CRM changes after ``since``; no API call until the first chunk."""
    return ChangeStream(iter(connector.read_changed(plan.external_object, plan.read_fields(), since, until)))


def extract_chunk(connector: Connector, plan: ObjectPlan, stream: ChangeStream) -> PullChunk:
    """The next chunk of the stream as a frame (one row per record: its newest copy), with parents."""
    records, cursor = stream.take()
    frame = records_frame(records, plan.read_fields())
    # A record edited during the read comes back twice; its newest copy is the one to load.
    frame = frame.drop_duplicates(EXTERNAL_ID, keep="last")
    parents = connector.read_parents(plan.external_object, records) if plan.mapping.parent and records else {}
    return PullChunk(frame, parents, cursor, more=not stream.exhausted)


def transform(plan: ObjectPlan, chunk: PullChunk) -> pd.DataFrame:
    """CRM records as CS rows (pulled fields and the match field), aligned with the chunk."""
    return to_cs(plan, chunk.frame)


def drop_unchanged(store: Store, plan: ObjectPlan, chunk: PullChunk, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows less the linked records whose pulled values and parent equal the last-synced ones.

    The overlap window and our own pushes bring such records back on every run; there is
    nothing to validate or load for them, so they stop here and count as unchanged.
    """
    import pandas as pd

    if rows.empty:
        return rows
    scope = plan.scope
    ids = chunk.frame.loc[rows.index, EXTERNAL_ID].astype(str)
    links = store.state.links_by_external(scope, ids.tolist())
    sel = rows.index[ids.isin(links).to_numpy()]
    if sel.empty:
        return rows
    synced = [links[eid].synced_values for eid in ids[sel]]
    base = base_frame(plan.pull_fields, synced, sel)
    unchanged = base[[f"{f.cs}?" for f in plan.pull_fields]].all(axis=1).astype(bool)
    for f in plan.pull_fields:
        unchanged &= same(rows.loc[sel, f.cs], base[f.cs], casefold=bool(f.mapping.value_map))
    if plan.mapping.parent:
        parents = _parents(store, plan, chunk, ids[sel])
        now = pd.to_numeric(ids[sel].map(lambda eid: parents.get(eid, (None, None))[0]), errors="coerce")
        last = pd.to_numeric(pd.Series([v.get(PARENT_SYNCED) for v in synced], index=sel), errors="coerce")
        unchanged &= ((now == last) | (now.isna() & last.isna() & ~ids[sel].isin(parents))).fillna(False)
    return rows.drop(sel[unchanged.to_numpy()])


class Counts:
    """Counters of a run that add up chunk by chunk (every field is an int)."""

    def add(self, other: Counts) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass
class PullCounts(Counts):
    extracted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    conflicts: int = 0
    parked: int = 0  # children whose parent is not linked yet
    deleted: int = 0


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN -> None, dates -> ISO text), converted in one vectorised pass."""
    return json.loads(
        frame.to_json(orient="records", date_format="iso", default_handler=str, double_precision=15)
    )


def db_records(plan: ObjectPlan, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical rows as the database takes them: dates as dates, whole numbers as ints, None for missing."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        kind = cs_kind(plan.cs_object, name)
        if kind == "date":
            out[name] = pd.to_datetime(out[name], errors="coerce").dt.date
        elif kind == "int":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("Int64")
        out[name] = out[name].astype("object").where(out[name].notna(), None)
    return out.to_dict(orient="records")


def raw_records(frame: pd.DataFrame, index: pd.Index) -> list[dict[str, Any]]:
    """The raw CRM records of these rows, JSON-ready, for quarantine and replay."""
    return json_records(frame.loc[index])


def decide_pull(
    store: Store, plan: ObjectPlan, chunk: PullChunk, rows: pd.DataFrame, failures: pd.DataFrame
) -> tuple[PullBatch, PullCounts]:
    """Decide what every record of a validated chunk does; nothing is written here."""
    import pandas as pd

    scope = plan.scope
    ext = chunk.frame
    skipped = len(ext) - len(rows) - len(failures)  # identical to the last sync: dropped before
    bad = unreadable(plan, ext, rows).dropna()
    if not bad.empty:
        failures = pd.concat([failures, pd.DataFrame({"rule": "crm_value_type", "reason": bad})])
        rows = rows.drop(bad.index)
    batch = PullBatch(cursor=chunk.cursor)
    counts = PullCounts(extracted=len(ext), quarantined=len(failures), unchanged=skipped)
    for index, raw in zip(failures.index, raw_records(ext, failures.index), strict=True):
        batch.quarantine.append(
            {
                "record_key": str(ext.at[index, EXTERNAL_ID]),
                "raw": raw,
                "reason": str(failures.at[index, "reason"]),
                "rule": str(failures.at[index, "rule"]),
            }
        )
    if rows.empty:
        return batch, counts
    ext = ext.loc[rows.index]
    ids = ext[EXTERNAL_ID].astype(str)
    batch.loaded_keys = ids.tolist()
    links = store.state.links_by_external(scope, ids.tolist())
    cs_id = ids.map({eid: link.cs_id for eid, link in links.items()}).astype("object")

    # First-time links: the ClientSuccess id the CRM keeps (our own earlier writes), then the match key.
    unlinked = cs_id.isna()
    if plan.key_field and unlinked.any():
        keys = pd.to_numeric(ext.loc[unlinked, plan.key_field], errors="coerce").dropna().astype(int)
        known = store.records.unlinked_ids(scope, keys.unique().tolist())
        cs_id.update(keys[keys.isin(known)].astype("object"))
    match = plan.mapping.match
    unlinked = cs_id.isna()
    if match and unlinked.any():
        values = rows.loc[unlinked, match.cs].dropna().astype(str).str.lower()
        found = store.records.match_keys(scope, match.cs, values.tolist()) if len(values) else {}
        cs_id.update(values.map(found).dropna().astype("object"))
    duplicate = cs_id.notna() & cs_id.duplicated(keep="first")  # one CS record links to one CRM record
    cs_id[duplicate] = None

    parent_of = _parents(store, plan, chunk, ids)
    names = [f.cs for f in plan.pull_fields]
    known_rows = cs_id.notna()
    if known_rows.any():
        _merge_known(store, plan, batch, counts, ext, rows, ids, cs_id, links, parent_of, names, known_rows)
    new_rows = ~known_rows
    if new_rows.any():
        records = db_records(plan, rows.loc[new_rows, names])
        synced = json_records(rows.loc[new_rows, names])
        for record, base, eid in zip(records, synced, ids[new_rows], strict=True):
            parent = parent_of.get(eid)
            if plan.mapping.parent:
                record[plan.mapping.parent.cs_field] = parent[0] if parent else None
            pending = parent[1] if parent and parent[0] is None else None
            if parent and parent[0] is not None:
                base[PARENT_SYNCED] = parent[0]
            record["_link"] = {"external_id": eid, "synced_values": base, "parent_external_id": pending}
            batch.creates.append(record)
            counts.parked += pending is not None
        counts.created = int(new_rows.sum())
    return batch, counts


def _parents(
    store: Store, plan: ObjectPlan, chunk: PullChunk, ids: pd.Series
) -> dict[str, tuple[int | None, str]]:
    """CRM id -> (CS parent id or None if the parent is not linked yet, parent CRM id)."""
    if not plan.mapping.parent or not plan.parent_external_object:
        return {}
    wanted = {eid: chunk.parents[eid] for eid in ids if chunk.parents.get(eid)}
    parent_scope = plan.parent_scope
    links = store.state.links_by_external(parent_scope, sorted(set(wanted.values())))
    alive = store.records.existing_ids(parent_scope.cs_object, [link.cs_id for link in links.values()])
    parent_of = {pid: link.cs_id for pid, link in links.items() if link.cs_id in alive}
    return {eid: (parent_of.get(pid), pid) for eid, pid in wanted.items()}


def _merge_known(
    store, plan, batch, counts, ext, rows, ids, cs_id, links, parent_of, names, known_rows
) -> None:
    """Linked (or just matched) records: three-way merge, updates, link updates, conflicts."""
    import pandas as pd

    sel = known_rows[known_rows].index
    cs_ids = cs_id[sel].astype(int)
    current = store.records.cs_frame(plan.cs_object, cs_ids.tolist(), [*names, *_parent_column(plan)])
    vanished = ~cs_ids.isin(current.index)
    if vanished.any():  # linked, but deleted in ClientSuccess since: keep the CRM record aside
        _quarantine_vanished(plan, batch, counts, ext, ids, cs_ids[vanished])
        sel, cs_ids = sel[~vanished.to_numpy()], cs_ids[~vanished]
        if sel.empty:
            return
    current = current.reindex(cs_ids.to_numpy())
    current.index = sel
    for f in plan.pull_fields:  # compare like with like: the canonical form the pulled values are in
        current[f.cs] = canonical(current[f.cs], f.kind)
    synced = [links[eid].synced_values if eid in links else {} for eid in ids[sel]]
    base = base_frame(plan.pull_fields, synced, sel)
    merged = merge_pull(
        plan.pull_fields,
        rows.loc[sel, names],
        current[names],
        base,
        ext.loc[sel, MODIFIED_AT],
        pd.to_datetime(current["updated_at"], utc=True),
    )
    parent_cs = {eid: parent_of[eid][0] for eid in ids[sel] if eid in parent_of}
    parent_changed = take_parent = pd.Series(False, index=sel)
    if plan.mapping.parent:  # the parent merges like a field: the side that moved it wins
        column = plan.mapping.parent.cs_field
        crm_parent = pd.to_numeric(ids[sel].map(parent_cs), errors="coerce")
        last = pd.to_numeric(ids[sel].map(lambda eid: _last_parent(links, eid)), errors="coerce")
        cs_parent = pd.to_numeric(current[column], errors="coerce")
        take_parent = (crm_parent.notna() & (last.isna() | (crm_parent != last))).fillna(False).astype(bool)
        parent_changed = take_parent & (crm_parent != cs_parent).fillna(True).astype(bool)
        merged.values[column] = crm_parent.where(take_parent, cs_parent)
    changed = merged.changed | parent_changed
    update_columns = names + _parent_column(plan)
    db_values = db_records(plan, merged.values.loc[changed, update_columns])
    for row_id, record in zip(cs_ids[changed], db_values, strict=True):
        batch.updates.append({"id": int(row_id), **record})
    base_values = json_records(merged.base[names])
    for row, eid, row_id, values in zip(sel, ids[sel], cs_ids, base_values, strict=True):
        previous = links[eid].synced_values if eid in links else {}
        parent = parent_of.get(eid)
        if take_parent[row]:  # both sides now have the CRM's parent
            values[PARENT_SYNCED] = parent[0]
        link = {
            "cs_id": int(row_id),
            "synced_values": {**previous, **values},
            "parent_external_id": parent[1] if parent and parent[0] is None else None,
        }
        if eid in links:
            batch.link_updates.append(link)
        else:
            batch.new_links.append({**link, "external_id": eid})
        counts.parked += link["parent_external_id"] is not None
    for conflict in json_records(merged.conflicts):
        row = conflict["row"]
        batch.conflicts.append(
            {
                "cs_id": int(cs_id[row]),
                "external_id": str(ids[row]),
                "field_name": conflict["field"],
                "base_value": conflict["base"],
                "cs_value": conflict["cs"],
                "external_value": conflict["external"],
                "policy": conflict["policy"],
                "winner": conflict["winner"],
            }
        )
    counts.updated = int(changed.sum())
    counts.unchanged += int((~changed).sum())
    counts.conflicts = len(merged.conflicts)


def _quarantine_vanished(plan, batch, counts, ext, ids, cs_ids) -> None:
    index = cs_ids.index
    for row, raw in zip(index, raw_records(ext, index), strict=True):
        batch.quarantine.append(
            {
                "record_key": str(ids[row]),
                "raw": raw,
                "reason": f"ClientSuccess {plan.cs_object} {int(cs_ids[row])}, linked to this "
                f"{plan.crm} record, no longer exists",
                "rule": "cs_record_missing",
            }
        )
    batch.loaded_keys = [key for key in batch.loaded_keys if key not in set(ids[index])]
    counts.quarantined += len(index)


def _last_parent(links: dict, eid: str) -> int | None:
    link = links.get(eid)
    return link.synced_values.get(PARENT_SYNCED) if link else None


def _parent_column(plan: ObjectPlan) -> list[str]:
    return [plan.mapping.parent.cs_field] if plan.mapping.parent else []


def resolve_parked(store: Store, plan: ObjectPlan) -> int:
    """Children pulled before their parent was linked: link them to it now if it is."""
    if not plan.mapping.parent or not plan.parent_external_object:
        return 0
    scope = plan.scope
    pending = store.state.pending_parents(scope)
    if not pending:
        return 0
    parent_scope = plan.parent_scope
    links = store.state.links_by_external(parent_scope, sorted(set(pending.values())))
    resolved = {child: links[pid].cs_id for child, pid in pending.items() if pid in links}
    store.state.set_parents(scope, plan.mapping.parent.cs_field, resolved)
    return len(resolved)


def apply_deletes(store: Store, connector: Connector, plan: ObjectPlan) -> int:
    """Records the CRM archived or deleted since the last run: unlink or flag them (per on_delete).

    The cursor is written once, after the last batch: batches are not in time order, so an
    early commit of a later time could skip deletions after a crash. Re-reading is harmless.
    """
    scope = plan.scope
    since, _ = store.state.cursor(scope, "deleted")
    affected, latest = 0, since
    for batch in connector.read_deleted(plan.external_object, since):
        affected += store.state.apply_deletes(
            scope, [record.id for record in batch], plan.mapping.on_delete, None
        )
        stamps = [record.deleted_at for record in batch if record.deleted_at]
        latest = max([latest, *stamps], key=lambda t: t.timestamp()) if latest else max(stamps, default=None)
    if latest and latest != since:
        store.state.apply_deletes(scope, [], plan.mapping.on_delete, (latest, ""))
    return affected
