"""Pull: CRM changes since the cursor, in bounded chunks, merged into the store.

``extract_chunk`` reads, ``transform`` maps, ``decide_pull`` decides what each record does
(link, create, update, conflict, quarantine) and the store commits it with the cursor.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crmsync.connectors.base import Cursor
from crmsync.mapping.compile import EXTERNAL_ID, MODIFIED_AT, records_frame, same, storable, to_cs, unreadable
from crmsync.models import utcnow
from crmsync.store.types import MODIFIED_SYNCED, PARENT_SYNCED, PullBatch
from crmsync.sync.counts import PullCounts
from crmsync.sync.frames import db_records, json_records, quarantine_rows
from crmsync.sync.linked import Matched, merge_linked
from crmsync.sync.merge import base_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import pandas as pd

    from crmsync.connectors.base import Connector, ExternalRecord, Page
    from crmsync.store import Store
    from crmsync.sync.plan import ObjectPlan

CHUNK_SIZE = 10_000  # records per chunk: a multiple of every page size, so chunks end on page edges
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OVERLAP = timedelta(minutes=2)  # re-read this much before the cursor: late commits and clock skew


@dataclass
class PullChunk:
    """One bounded chunk of CRM records: as a frame, their parents, and the cursor after them."""

    frame: pd.DataFrame | None  # None: no record to load and none deleted
    parents: dict[str, str] | Future[dict[str, str]]  # child CRM id -> parent CRM id (``parent_ids``)
    cursor: tuple[datetime, str] | None
    more: bool = False  # the stream has more records after this chunk
    deleted: list[str] = field(default_factory=list)  # ids the CRM deleted (if its stream says so)
    seen: int = 0  # records whose exact version was pulled before (the overlap re-reads them)
    # The links of the chunk's records and of their parents, read once and shared by the steps
    # that follow (transform's unchanged check, the load's match): nothing else writes them meanwhile.
    links: dict[str, Any] | None = None
    parent_links: dict[str, tuple[int | None, str]] | None = None

    @property
    def empty(self) -> bool:
        return (self.frame is None or self.frame.empty) and not self.deleted

    @property
    def parent_ids(self) -> dict[str, str]:
        """Child CRM id -> parent CRM id, waiting for the read if it is still under way."""
        if isinstance(self.parents, Future):
            self.parents = self.parents.result()
        return self.parents


def read_ahead(read: Callable[[], dict[str, str]]) -> Future[dict[str, str]]:
    """A chunk's parents, read by a thread of their own while the chunk is framed, transformed
    and validated (their first reader is the load, or the unchanged check): the API waits (the
    association reads) overlap that work, and an error is raised where the parents are wanted."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmsync-parents")
    try:
        return pool.submit(contextvars.copy_context().run, read)  # in Prefect's run context, as the caller
    finally:
        pool.shutdown(wait=False)


@dataclass(frozen=True)
class LoadOptions:
    """How a run loads its chunks: under which run id, and whether the incremental cursor moves."""

    run_id: str
    move_cursor: bool = True  # a backfill re-reads an old window and leaves the cursor alone


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

    def __init__(self, pages: Iterator[Page], size: int = CHUNK_SIZE, skip_seen: bool = False) -> None:
        self._pages, self._size = pages, size
        self.skip_seen = skip_seen  # an incremental run skips versions it pulled before; a backfill not
        self._buffer: list[ExternalRecord] = []
        self._page_cursor: Cursor | None = None
        self.exhausted = False

    def close(self) -> None:
        """Stop reading pages ahead (if they are)."""
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()

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


class ReadAhead:
    """The connector's pages, read by a background thread while the run loads earlier chunks.

    Waiting on the CRM (and its JSON) then overlaps the transform and the store commit. Pages
    come out in the order the connector yields them, so cursors and chunks are unchanged; at most
    ``limit`` records wait in memory; an error of the reader is raised where the page was wanted.
    The thread starts with the first page asked for (no API call before), and stops with ``close``.
    """

    def __init__(self, pages: Iterator[Page], limit: int = CHUNK_SIZE) -> None:
        self._pages, self._limit = pages, limit
        self._ready: deque[tuple[str, Any]] = deque()
        self._buffered = 0
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> Page:
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="crmsync-read-ahead", daemon=True)
            self._thread.start()
        with self._changed:
            self._changed.wait_for(lambda: self._ready)
            kind, item = self._ready.popleft()
            if kind == "page":
                self._buffered -= len(item.records)
            self._changed.notify_all()
        if kind == "page":
            return item
        if kind == "error":
            raise item
        raise StopIteration

    def _read(self) -> None:
        try:
            for page in self._pages:
                with self._changed:
                    self._changed.wait_for(lambda: self._closed or self._buffered < self._limit)
                    if self._closed:
                        return
                    self._ready.append(("page", page))
                    self._buffered += len(page.records)
                    self._changed.notify_all()
            self._put("end", None)
        except Exception as exc:  # raised in the run's thread, where the page was wanted
            self._put("error", exc)

    def _put(self, kind: str, item: Any) -> None:
        with self._changed:
            self._ready.append((kind, item))
            self._changed.notify_all()

    def close(self) -> None:
        """Stop reading ahead (the run ended early, or failed)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


def open_changes(
    connector: Connector,
    plan: ObjectPlan,
    since: Cursor,
    until: datetime | None = None,
    skip_seen: bool = True,
) -> ChangeStream:
    """The run's stream of CRM changes after ``since``; no API call until the first chunk.

    ``skip_seen`` lets the run skip versions it pulled before; a backfill re-pulls them all.
    """
    pages = connector.read_changed(plan.external_object, plan.read_fields(), since, until)
    return ChangeStream(ReadAhead(iter(pages)), skip_seen=skip_seen)


def extract_chunk(
    connector: Connector, plan: ObjectPlan, stream: ChangeStream, store: Store | None = None
) -> PullChunk:
    """The next chunk of the stream as a frame (one row per record: its newest copy), with parents.

    With a store, records whose exact version (id and CRM modified time) was pulled before stop
    here: the overlap window re-reads them on every run, and reading their parents again would
    cost API calls on a run with nothing to move.
    """
    records, cursor = stream.take()
    # A record edited (or deleted) during the read comes back twice; its newest copy counts.
    last = {r.id: i for i, r in enumerate(records)}
    newest = [r for i, r in enumerate(records) if last[r.id] == i]
    links = _links_of(store, plan, newest) if store is not None else None
    seen = _seen_versions(newest, links) if links else set()
    live = [r for r in newest if not r.deleted and r.id not in seen]
    parents: dict[str, str] | Future[dict[str, str]] = {}
    if plan.mapping.parent and live:
        parents = read_ahead(lambda: connector.read_parents(plan.external_object, live))
    # A quiet run's chunk (every record seen before) stops here without importing pandas.
    frame = records_frame(live, plan.read_fields()) if live or any(r.deleted for r in newest) else None
    deleted = [r.id for r in newest if r.deleted]
    more = not stream.exhausted
    return PullChunk(frame, parents, cursor, more=more, deleted=deleted, seen=len(seen), links=links)


def version_stamp(moment: datetime) -> int:
    """A CRM modified time as the integer a link keeps (µs since 1970, UTC; naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def version_stamps(modified: pd.Series) -> list[int]:
    """CRM modified times as the integers links keep, for a whole column at once."""
    return modified.dt.as_unit("us").astype("int64").tolist()


def _links_of(store: Store, plan: ObjectPlan, records: list[ExternalRecord]) -> dict[str, Any]:
    """The links of the chunk's live records, by CRM id (one read for the whole chunk)."""
    live = [r.id for r in records if not r.deleted]
    return store.state.links_by_external(plan.scope, live) if live else {}


def chunk_links(store: Store, plan: ObjectPlan, chunk: PullChunk, ids: Sequence[str]) -> dict[str, Any]:
    """The links of ``ids`` (records of the chunk): read at extract, or now, once per chunk."""
    if chunk.links is None:
        chunk.links = store.state.links_by_external(plan.scope, list(ids))
    return chunk.links


def _seen_versions(records: list[ExternalRecord], links: dict[str, Any]) -> set[str]:
    """Ids of records whose link says this very version was pulled already."""
    return {
        r.id
        for r in records
        if not r.deleted
        and r.id in links
        and links[r.id].synced_values.get(MODIFIED_SYNCED) == version_stamp(r.modified_at)
    }


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
    ids = chunk.frame.loc[rows.index, EXTERNAL_ID].astype(str)
    links = chunk_links(store, plan, chunk, ids.tolist())
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


def decide_pull(
    store: Store, plan: ObjectPlan, chunk: PullChunk, rows: pd.DataFrame, failures: pd.DataFrame
) -> tuple[PullBatch, PullCounts]:
    """Decide what every record of a validated chunk does; nothing is written here."""
    ext = chunk.frame
    # Identical to the last sync: dropped before (seen versions in extract, equal values in transform).
    skipped = len(ext) - len(rows) - len(failures) + chunk.seen
    rows, failures = _drop_unreadable(plan, ext, rows, failures)
    quarantine = quarantine_rows(
        ext.loc[failures.index], ext.loc[failures.index, EXTERNAL_ID], failures["reason"], failures["rule"]
    )
    deleted = _deleted_links(store, plan, chunk)
    counts = PullCounts(
        extracted=len(ext) + len(chunk.deleted) + chunk.seen,
        quarantined=len(failures),
        unchanged=skipped,
        deleted=len(deleted),
    )
    if rows.empty:
        return PullBatch(quarantine=quarantine, cursor=chunk.cursor, **deleted_fields(plan, deleted)), counts
    matched = _match(store, plan, chunk, rows)
    linked = merge_linked(store, plan, matched)
    creates = _creates(plan, matched)
    counts.add(linked.counts)
    counts.created = len(creates)
    counts.parked += sum(c["_link"]["parent_external_id"] is not None for c in creates)
    batch = PullBatch(
        creates=creates,
        updates=linked.updates,
        new_links=linked.new_links,
        link_updates=linked.link_updates,
        conflicts=linked.conflicts,
        quarantine=quarantine + linked.quarantine,
        loaded_keys=[key for key in matched.ids if key not in linked.vanished],
        cursor=chunk.cursor,
        **deleted_fields(plan, deleted),
    )
    return batch, counts


def _deleted_links(store: Store, plan: ObjectPlan, chunk: PullChunk) -> list[str]:
    """The chunk's deleted CRM records that are linked (the others concern nobody), unless ignored."""
    if not chunk.deleted or plan.mapping.on_delete == "ignore":
        return []
    return sorted(store.state.links_by_external(plan.scope, chunk.deleted))


def deleted_fields(plan: ObjectPlan, deleted: list[str]) -> dict[str, Any]:
    """The PullBatch fields that carry a chunk's deletions."""
    return {"deleted": deleted, "delete_policy": plan.mapping.on_delete}


def _drop_unreadable(
    plan: ObjectPlan, ext: pd.DataFrame, rows: pd.DataFrame, failures: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move rows whose CRM values cannot be read as their CS type from ``rows`` to ``failures``."""
    import pandas as pd

    unread = unreadable(plan, ext, rows)
    unstorable = storable(plan, rows).where(unread.isna())
    found = [
        pd.DataFrame({"rule": rule, "reason": reasons.dropna()})
        for rule, reasons in (("crm_value_type", unread), ("crm_value_unstorable", unstorable))
        if reasons.notna().any()
    ]
    if not found:
        return rows, failures
    failures = pd.concat([failures, *found])
    return rows.drop(failures.index.intersection(rows.index)), failures


def _match(store: Store, plan: ObjectPlan, chunk: PullChunk, rows: pd.DataFrame) -> Matched:
    """Each record's CS id: by its link, else the CS id the CRM keeps, else the match key."""
    ext = chunk.frame.loc[rows.index]
    ids = ext[EXTERNAL_ID].astype(str)
    links = chunk_links(store, plan, chunk, ids.tolist())
    links = {eid: links[eid] for eid in ids if eid in links}
    cs_id = ids.map({eid: link.cs_id for eid, link in links.items()}).astype("object")
    cs_id = _by_key_field(store, plan, ext, cs_id)
    cs_id = _by_match_key(store, plan, rows, cs_id)
    cs_id[cs_id.notna() & cs_id.duplicated(keep="first")] = None  # one CS record, one CRM record
    return Matched(ext, rows, ids, cs_id, links, _parents(store, plan, chunk, ids))


def _by_key_field(store: Store, plan: ObjectPlan, ext: pd.DataFrame, cs_id: pd.Series) -> pd.Series:
    """First-time links by the ClientSuccess id the CRM keeps (our own earlier writes)."""
    import pandas as pd

    unlinked = cs_id.isna()
    if not plan.key_field or not unlinked.any():
        return cs_id
    keys = pd.to_numeric(ext.loc[unlinked, plan.key_field], errors="coerce").dropna().astype(int)
    known = store.records.unlinked_ids(plan.scope, keys.unique().tolist())
    cs_id = cs_id.copy()
    cs_id.update(keys[keys.isin(known)].astype("object"))
    return cs_id


def _by_match_key(store: Store, plan: ObjectPlan, rows: pd.DataFrame, cs_id: pd.Series) -> pd.Series:
    """First-time links by the match key (domain, email), casefolded as the store folds it."""
    match = plan.mapping.match
    unlinked = cs_id.isna()
    if not match or not unlinked.any():
        return cs_id
    values = rows.loc[unlinked, match.cs].dropna().astype(str).str.casefold()
    found = store.records.match_keys(plan.scope, match.cs, values.tolist()) if len(values) else {}
    cs_id = cs_id.copy()
    cs_id.update(values.map(found).dropna().astype("object"))
    return cs_id


def _creates(plan: ObjectPlan, matched: Matched) -> list[dict[str, Any]]:
    """New CS records for the CRM records nothing matched, each with the link it will get."""
    new = matched.cs_id.isna()
    names = [f.cs for f in plan.pull_fields]
    if not new.any():
        return []
    creates = []
    records = db_records(plan.cs_object, matched.rows.loc[new, names])
    synced = json_records(matched.rows.loc[new, names])
    stamps = version_stamps(matched.ext.loc[new, MODIFIED_AT])
    for record, base, eid, stamp in zip(records, synced, matched.ids[new], stamps, strict=True):
        base[MODIFIED_SYNCED] = stamp
        parent = matched.parents.get(eid)
        if plan.mapping.parent:
            record[plan.mapping.parent.cs_field] = parent[0] if parent else None
        if parent and parent[0] is not None:
            base[PARENT_SYNCED] = parent[0]
        pending = parent[1] if parent and parent[0] is None else None
        record["_link"] = {"external_id": eid, "synced_values": base, "parent_external_id": pending}
        creates.append(record)
    return creates


def _parents(
    store: Store, plan: ObjectPlan, chunk: PullChunk, ids: pd.Series
) -> dict[str, tuple[int | None, str]]:
    """CRM id -> (CS parent id or None if the parent is not linked yet, parent CRM id)."""
    parent_scope = plan.parent_scope
    if parent_scope is None:
        return {}
    if chunk.parent_links is None:  # once per chunk, for all its records with a parent
        wanted = {eid: pid for eid, pid in chunk.parent_ids.items() if pid}
        parent_of = store.state.live_cs_ids(parent_scope, sorted(set(wanted.values())))
        chunk.parent_links = {eid: (parent_of.get(pid), pid) for eid, pid in wanted.items()}
    return {eid: chunk.parent_links[eid] for eid in ids if eid in chunk.parent_links}


def resolve_parked(store: Store, plan: ObjectPlan) -> int:
    """Children pulled before their parent was linked: link them to it now if it is."""
    if not plan.mapping.parent or not plan.parent_external_object:
        return 0
    pending = store.state.pending_parents(plan.scope)
    if not pending:
        return 0
    parent_scope = plan.parent_scope
    links = store.state.links_by_external(parent_scope, sorted(set(pending.values())))
    resolved = {child: links[pid].cs_id for child, pid in pending.items() if pid in links}
    store.state.set_parents(plan.scope, plan.mapping.parent.cs_field, resolved)
    return len(resolved)


def apply_deletes(store: Store, connector: Connector, plan: ObjectPlan) -> int:
    """Records the CRM archived or deleted since the last sweep: unlink or flag them (per on_delete).

    The cursor is written once, after the last batch: batches are not in time order, so an
    early commit of a later time could skip deletions after a crash. Re-reading is harmless.
    Its write time marks the sweep, so a CRM with a sweep cadence is swept only when it is due.
    """
    if connector.deletions_in_changes or not _sweep_due(store, connector, plan):
        return 0  # deletions came with the changes, or the sweep is not due yet
    since, _ = store.state.cursor(plan.scope, "deleted")
    affected, latest = 0, since
    for batch in connector.read_deleted(plan.external_object, since):
        ids = [record.id for record in batch]
        affected += store.state.apply_deletes(plan.scope, ids, plan.mapping.on_delete, None)
        stamps = [record.deleted_at for record in batch if record.deleted_at]
        latest = max([latest, *stamps], key=lambda t: t.timestamp()) if latest else max(stamps, default=None)
    store.state.apply_deletes(plan.scope, [], plan.mapping.on_delete, (latest, ""))
    return affected


def _sweep_due(store: Store, connector: Connector, plan: ObjectPlan) -> bool:
    every = connector.deletion_sweep_every
    last = store.state.cursor_written_at(plan.scope, "deleted")
    return every is None or last is None or utcnow() - last >= every
