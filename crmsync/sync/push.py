"""Push: CS records changed since the cursor, in bounded chunks, written to the CRM in batches.

Only fields whose effective direction pushes are sent, and only where the CS value differs
from the last-synced one, so a value just pulled is never echoed back and an unchanged record
is never written. Values with no match in the CRM's live option list are quarantined before
any API call; records the CRM rejects are quarantined with its reason and retried next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmsync.connectors.base import WriteRequest
from crmsync.mapping.compile import canonical, to_external
from crmsync.store.types import PARENT_SYNCED, PushBatch
from crmsync.sync.merge import base_frame, push_changes
from crmsync.sync.pull import CHUNK_SIZE, OVERLAP, Counts, json_records

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.connectors.base import Connector, WriteResult
    from crmsync.store import Store
    from crmsync.sync.plan import ObjectPlan


@dataclass
class PushChunk:
    """CS records that changed since they were last synced, and how; the cursor after the chunk."""

    rows: pd.DataFrame  # indexed by CS id: only the records to send; raw CS values
    current: pd.DataFrame  # the same rows' pushed fields, in canonical form
    changes: pd.DataFrame  # per row and pushed field: differs from the last-synced value
    linked: pd.Series  # per row: already linked to a CRM record
    moved: pd.Series  # per row: its parent differs from the parent last synced
    links: dict[int, Any]  # CS id -> RecordLink
    read: int  # records read from the store for this chunk
    cursor: tuple[datetime, str] | None

    @property
    def empty(self) -> bool:
        return self.read == 0


@dataclass
class PushPlan:
    """The write requests of one chunk, and the rows rejected before any API call."""

    requests: list[WriteRequest]
    sent: dict[str, dict[str, Any]]  # CS id -> canonical CS values sent (the next last-synced values)
    rejected: pd.DataFrame  # index CS id: reason, rule
    unchanged: int


@dataclass
class PushCounts(Counts):
    considered: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0

    @property
    def pushed(self) -> int:
        return self.created + self.updated


def _columns(plan: ObjectPlan) -> list[str]:
    parent = [plan.mapping.parent.cs_field] if plan.mapping.parent else []
    return [*dict.fromkeys(f.cs for f in plan.push_fields), *parent]


def start_position(position: tuple[datetime | None, str]) -> tuple[datetime | None, str]:
    """Where a push starts: the stored position less the overlap window."""
    at, _ = position
    return (at - OVERLAP, "") if at else (None, "")


def extract_chunk(
    store: Store,
    plan: ObjectPlan,
    since: tuple[datetime | None, str],
    retry_ids: list[int],
    size: int = CHUNK_SIZE,
) -> PushChunk:
    """Up to ``size`` CS records updated after ``since`` (plus quarantined ones to retry), kept
    only where a pushed field or the parent differs from what was last synced."""
    import pandas as pd

    rows = store.records.changed_records(plan.cs_object, since, _columns(plan), size)
    cursor = None
    if not rows.empty:
        last = rows.iloc[-1]
        cursor = (pd.Timestamp(last["updated_at"]).to_pydatetime(), str(int(last["id"])))
    present = set(rows.index)
    extra = [i for i in retry_ids if i not in present]
    if extra:
        retry = store.records.cs_frame(plan.cs_object, extra, _columns(plan))
        retry.insert(0, "id", retry.index)
        rows = pd.concat([rows, retry])
    return _changed(store, plan, rows, cursor)


def _changed(store: Store, plan: ObjectPlan, rows: pd.DataFrame, cursor) -> PushChunk:
    """Compare each record with its last-synced values; keep those with something to send."""
    import pandas as pd

    scope = plan.scope
    fields = plan.push_fields
    current = pd.DataFrame({f.cs: canonical(rows[f.cs], f.kind) for f in fields}, index=rows.index)
    links = store.state.links_by_cs(scope, rows.index.tolist())
    synced = [links[int(i)].synced_values if int(i) in links else {} for i in rows.index]
    changes = push_changes(fields, current, base_frame(fields, synced, rows.index))
    linked = pd.Series([int(i) in links for i in rows.index], index=rows.index, dtype=bool)
    moved = _parent_moved(plan, rows, synced) & linked  # e.g. a contact moved to another client
    wanted = changes.any(axis=1) | ~linked | moved
    return PushChunk(
        rows=rows[wanted],
        current=current[wanted],
        changes=changes[wanted],
        linked=linked[wanted],
        moved=moved[wanted],
        links=links,
        read=len(rows),
        cursor=cursor,
    )


def decide_push(
    store: Store,
    plan: ObjectPlan,
    chunk: PushChunk,
    options: Callable[[], dict[str, tuple[str, ...]]],
    failures: pd.DataFrame,
) -> PushPlan:
    """Which records to write and with which fields; ``failures`` come from validation.

    ``options`` gives the CRM's live option lists; it is asked only when something is to be sent.
    """
    import pandas as pd

    rows, current, changes, linked, links = (
        chunk.rows,
        chunk.current,
        chunk.changes,
        chunk.linked,
        chunk.links,
    )
    fields = plan.push_fields
    sending = changes.copy()
    sending.loc[~linked] = True  # a create sends every pushed field
    external, reasons = to_external(plan, current, options() if len(rows) else {}, sending)
    rejected = pd.DataFrame({"reason": reasons.dropna(), "rule": "crm_option_match"})
    failed = failures.index.intersection(external.index).difference(rejected.index)
    rejected = pd.concat([rejected, failures.loc[failed, ["reason", "rule"]]])
    go = external.index.difference(rejected.index, sort=False)
    # The parent is (re)set on creates and moves only: an ordinary update leaves it alone.
    parents = _parent_ids(store, plan, rows.loc[go[~linked[go].to_numpy() | chunk.moved[go].to_numpy()]])
    requests, sent = [], {}
    values_by_row = json_records(external.loc[go])
    canon_by_row = json_records(current.loc[go])
    changed_by_row = changes.loc[go].to_dict(orient="records")
    for cs_id, values, canon, changed in zip(go, values_by_row, canon_by_row, changed_by_row, strict=True):
        link = links.get(int(cs_id))
        if link is not None:  # an update sends only what changed on the CS side
            keep = {f.external for f in fields if changed[f.cs]}
            values = {k: v for k, v in values.items() if k in keep}
            canon = {f.cs: canon[f.cs] for f in fields if changed[f.cs]}
        if int(cs_id) in parents:
            canon[PARENT_SYNCED] = int(rows.at[cs_id, plan.mapping.parent.cs_field])
        key = str(int(cs_id))
        requests.append(
            WriteRequest(
                key=key,
                values=values,
                external_id=link.external_id if link else None,
                parent_id=parents.get(int(cs_id)),
            )
        )
        sent[key] = canon
    return PushPlan(requests=requests, sent=sent, rejected=rejected, unchanged=chunk.read - len(rows))


def _parent_moved(plan: ObjectPlan, rows: pd.DataFrame, synced: list[dict[str, Any]]) -> pd.Series:
    """True where the CS parent differs from the parent last synced (records with a parent only)."""
    import pandas as pd

    if not plan.mapping.parent:
        return pd.Series(False, index=rows.index)
    current = pd.to_numeric(rows[plan.mapping.parent.cs_field], errors="coerce")
    last = pd.to_numeric(pd.Series([s.get(PARENT_SYNCED) for s in synced], index=rows.index), errors="coerce")
    return (current.notna() & (current != last)).fillna(False).astype(bool)


def _parent_ids(store: Store, plan: ObjectPlan, rows: pd.DataFrame) -> dict[int, str]:
    """CS id -> the CRM id of its parent (the client's linked record), where it is linked."""
    if not plan.mapping.parent or not plan.parent_external_object or rows.empty:
        return {}
    column = plan.mapping.parent.cs_field
    parent_ids = rows[column].dropna().astype(int)
    scope = plan.parent_scope
    links = store.state.links_by_cs(scope, parent_ids.unique().tolist())
    return {int(child): links[int(p)].external_id for child, p in parent_ids.items() if int(p) in links}


def record_results(
    store: Store, plan: ObjectPlan, chunk: PushChunk, decided: PushPlan, results: list[WriteResult]
) -> tuple[PushBatch, PushCounts]:
    """Turn the CRM's answers into links, quarantine rows and counts (written by the store)."""
    scope = plan.scope
    links = store.state.links_by_cs(scope, [int(k) for k in decided.sent])
    taken = store.state.links_by_external(scope, [r.external_id for r in results if r.ok and r.external_id])
    batch = PushBatch(cursor=chunk.cursor)
    counts = PushCounts(considered=chunk.read, unchanged=decided.unchanged)
    raw = dict(zip(chunk.rows.index.astype(str), json_records(chunk.rows), strict=True))
    rejected = decided.rejected
    for cs_id, reason, rule in zip(rejected.index, rejected["reason"], rejected["rule"], strict=True):
        batch.quarantine.append(
            {"record_key": str(cs_id), "raw": raw[str(cs_id)], "reason": reason, "rule": rule}
        )
    for result in results:
        if not result.ok:
            batch.quarantine.append(
                {
                    "record_key": result.key,
                    "raw": raw[result.key],
                    "reason": result.error or "rejected by the CRM",
                    "rule": "crm_write",
                }
            )
            continue
        owner = taken.get(result.external_id)
        if owner is not None and owner.cs_id != int(result.key):  # e.g. two CS contacts, one email
            batch.quarantine.append(
                {
                    "record_key": result.key,
                    "raw": raw[result.key],
                    "reason": f"{plan.crm} record {result.external_id} is already linked to "
                    f"{plan.cs_object} {owner.cs_id}",
                    "rule": "unique_link",
                }
            )
            continue
        batch.loaded_keys.append(result.key)
        link = links.get(int(result.key))
        synced = {**(link.synced_values if link else {}), **decided.sent[result.key]}
        if link is None or link.external_id != result.external_id:
            batch.new_links.append(
                {"cs_id": int(result.key), "external_id": result.external_id, "synced_values": synced}
            )
        else:
            batch.link_updates.append(
                {
                    "cs_id": int(result.key),
                    "synced_values": synced,
                    "parent_external_id": link.parent_external_id,
                }
            )
        if result.created:
            counts.created += 1
        else:
            counts.updated += 1
    counts.quarantined = len(batch.quarantine)
    return batch, counts


def push(connector: Connector, plan: ObjectPlan, decided: PushPlan) -> list[WriteResult]:
    """Write the decided requests through the connector (it batches them per API limits)."""
    return connector.write(plan.external_object, decided.requests) if decided.requests else []
