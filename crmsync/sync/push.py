"""Push: CS records changed since the cursor, in bounded chunks, written to the CRM in batches.

Only fields whose effective direction pushes are sent, and only where the CS value differs
from the last-synced one, so a value just pulled is never echoed back and an unchanged record
is never written. Values with no match in the CRM's live option list are quarantined before
any API call; records the CRM rejects are quarantined with its reason and retried next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmsync.connectors.base import WriteRequest
from crmsync.mapping.compile import canonical, to_external
from crmsync.store.types import PARENT_SYNCED, PushBatch
from crmsync.sync.counts import PushCounts
from crmsync.sync.frames import json_records
from crmsync.sync.merge import base_frame, push_changes
from crmsync.sync.pull import CHUNK_SIZE, OVERLAP

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.connectors.base import Connector, WriteResult
    from crmsync.store import Store
    from crmsync.sync.plan import ObjectPlan


Position = tuple[datetime | None, str]  # (updated_at, id) of the last CS record a push read


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
    settled: tuple[str, ...] = ()  # CS ids read with nothing to send: a retry of them is done

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
        rows = _without_held_back(store, plan, rows)
    present = set(rows.index)
    extra = [i for i in retry_ids if i not in present]
    if extra:
        retry = store.records.cs_frame(plan.cs_object, extra, _columns(plan))
        retry.insert(0, "id", retry.index)
        rows = pd.concat([rows, retry])
    return _changed(store, plan, rows, cursor)


def _without_held_back(store: Store, plan: ObjectPlan, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows less the quarantined records still backing off that did not change since (the overlap
    window re-reads them on every quick run)."""
    import pandas as pd

    held = store.state.held_back(plan.scope, "push")
    if not held:
        return rows
    seen = pd.to_datetime(pd.Series(rows.index.astype(str), index=rows.index).map(held), utc=True)
    unchanged = (pd.to_datetime(rows["updated_at"], utc=True) <= seen) & seen.notna()
    return rows[~unchanged.to_numpy()]


def _changed(store: Store, plan: ObjectPlan, rows: pd.DataFrame, cursor: Position | None) -> PushChunk:
    """Compare each record with its last-synced values; keep those with something to send."""
    import pandas as pd

    fields = plan.push_fields
    current = pd.DataFrame({f.cs: canonical(rows[f.cs], f.kind) for f in fields}, index=rows.index)
    links = store.state.links_by_cs(plan.scope, rows.index.tolist())
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
        settled=tuple(str(int(i)) for i in rows.index[~wanted.to_numpy()]),
    )


def decide_push(
    store: Store,
    plan: ObjectPlan,
    chunk: PushChunk,
    options: dict[str, tuple[str, ...]],
    failures: pd.DataFrame,
) -> PushPlan:
    """Which records to write and with which fields; ``failures`` come from validation.

    ``options`` holds the CRM's live option lists; a value with no match is rejected here.
    """
    sending = chunk.changes.copy()
    sending.loc[~chunk.linked] = True  # a create sends every pushed field
    external, reasons = to_external(plan, chunk.current, options, sending)
    rejected = _rejected(reasons, failures, external.index)
    go = external.index.difference(rejected.index, sort=False)
    # The parent is (re)set on creates and moves only: an ordinary update leaves it alone.
    resets = ~chunk.linked[go].to_numpy() | chunk.moved[go].to_numpy()
    parents = _parent_ids(store, plan, chunk.rows.loc[go[resets]])
    requests, sent = _requests(plan, chunk, external.loc[go], parents)
    return PushPlan(requests=requests, sent=sent, rejected=rejected, unchanged=chunk.read - len(chunk.rows))


def _rejected(reasons: pd.Series, failures: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Rows that cannot go: no matching CRM option first, then the validation failures."""
    import pandas as pd

    rejected = pd.DataFrame({"reason": reasons.dropna(), "rule": "crm_option_match"})
    failed = failures.index.intersection(index).difference(rejected.index)
    return pd.concat([rejected, failures.loc[failed, ["reason", "rule"]]])


def _requests(
    plan: ObjectPlan, chunk: PushChunk, external: pd.DataFrame, parents: dict[int, str]
) -> tuple[list[WriteRequest], dict[str, dict[str, Any]]]:
    """One write request per record, and the canonical values each sends (its next last-synced values)."""
    requests, sent = [], {}
    go = external.index
    rows = zip(
        go,
        json_records(external),
        json_records(chunk.current.loc[go]),
        chunk.changes.loc[go].to_dict(orient="records"),
        strict=True,
    )
    for cs_id, values, canon, changed in rows:
        link = chunk.links.get(int(cs_id))
        if link is not None:  # an update sends only what changed on the CS side
            values, canon = _changed_only(plan, values, canon, changed)
        if int(cs_id) in parents:
            canon[PARENT_SYNCED] = int(chunk.rows.at[cs_id, plan.mapping.parent.cs_field])
        key = str(int(cs_id))
        external_id = link.external_id if link else None
        requests.append(WriteRequest(key, values, external_id, parents.get(int(cs_id))))
        sent[key] = canon
    return requests, sent


def _changed_only(
    plan: ObjectPlan, values: dict[str, Any], canon: dict[str, Any], changed: dict[str, bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keep = {f.external for f in plan.push_fields if changed[f.cs]}
    values = {k: v for k, v in values.items() if k in keep}
    return values, {f.cs: canon[f.cs] for f in plan.push_fields if changed[f.cs]}


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
    links = store.state.links_by_cs(plan.parent_scope, parent_ids.unique().tolist())
    return {int(child): links[int(p)].external_id for child, p in parent_ids.items() if int(p) in links}


def record_results(
    store: Store, plan: ObjectPlan, chunk: PushChunk, decided: PushPlan, results: list[WriteResult]
) -> tuple[PushBatch, PushCounts]:
    """Turn the CRM's answers into links, quarantine rows and counts (written by the store)."""
    raw = dict(zip(chunk.rows.index.astype(str), json_records(chunk.rows), strict=True))
    quarantine = [
        _quarantine_row(str(cs_id), raw, reason, rule)
        for cs_id, reason, rule in decided.rejected[["reason", "rule"]].itertuples()
    ]
    accepted, refused = _accepted(store, plan, results)
    quarantine += [_quarantine_row(key, raw, reason, rule) for key, reason, rule in refused]
    links = store.state.links_by_cs(plan.scope, [int(r.key) for r in accepted])
    new_links, link_updates = _links(accepted, links, decided.sent)
    batch = PushBatch(
        new_links=new_links,
        link_updates=link_updates,
        quarantine=quarantine,
        loaded_keys=[r.key for r in accepted] + list(chunk.settled),
        cursor=chunk.cursor,
        sent=decided.sent,
    )
    created = sum(r.created for r in accepted)
    counts = PushCounts(
        considered=chunk.read,
        unchanged=decided.unchanged,
        created=created,
        updated=len(accepted) - created,
        quarantined=len(quarantine),
    )
    return batch, counts


def _quarantine_row(key: str, raw: dict[str, Any], reason: str, rule: str) -> dict[str, Any]:
    return {"record_key": key, "raw": raw[key], "reason": reason, "rule": rule}


def _accepted(
    store: Store, plan: ObjectPlan, results: list[WriteResult]
) -> tuple[list[WriteResult], list[tuple[str, str, str]]]:
    """The writes the CRM took and that may be linked; the others as (key, reason, rule)."""
    written = [r for r in results if r.ok]
    taken = store.state.links_by_external(plan.scope, [r.external_id for r in written if r.external_id])
    accepted, refused = [], []
    for result in results:
        owner = taken.get(result.external_id) if result.ok else None
        if not result.ok:
            refused.append((result.key, result.error or "rejected by the CRM", "crm_write"))
        elif owner is not None and owner.cs_id != int(result.key):  # e.g. two CS contacts, one email
            reason = (
                f"{plan.crm} record {result.external_id} is already linked to {plan.cs_object} {owner.cs_id}"
            )
            refused.append((result.key, reason, "unique_link"))
        else:
            accepted.append(result)
    return accepted, refused


def _links(
    accepted: list[WriteResult], links: dict[int, Any], sent: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New links for records written for the first time (or re-created), updates for the others."""
    new_links, updates = [], []
    for result in accepted:
        cs_id, link = int(result.key), links.get(int(result.key))
        synced = {**(link.synced_values if link else {}), **sent[result.key]}
        if link is None or link.external_id != result.external_id:
            new_links.append({"cs_id": cs_id, "external_id": result.external_id, "synced_values": synced})
        else:
            updates.append(
                {
                    "cs_id": cs_id,
                    "external_id": link.external_id,
                    "synced_values": synced,
                    "parent_external_id": link.parent_external_id,
                }
            )
    return new_links, updates


def push(connector: Connector, plan: ObjectPlan, decided: PushPlan) -> list[WriteResult]:
    """Write the decided requests through the connector (it batches them per API limits)."""
    return connector.write(plan.external_object, decided.requests) if decided.requests else []
