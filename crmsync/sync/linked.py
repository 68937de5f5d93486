"""Pulled records that are linked (or just matched) to a CS record: a three-way merge of each field
and of the parent, against the last-synced values kept on the link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmsync.mapping.compile import MODIFIED_AT, canonical
from crmsync.store.types import MODIFIED_SYNCED, PARENT_SYNCED
from crmsync.sync.counts import PullCounts
from crmsync.sync.frames import db_records, json_records, quarantine_rows
from crmsync.sync.merge import PullMerge, base_frame, merge_pull

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.models import RecordLink
    from crmsync.store import Store
    from crmsync.sync.plan import ObjectPlan


@dataclass(frozen=True)
class Matched:
    """A validated chunk's loadable records, each with its CRM id and the CS id it maps to."""

    ext: pd.DataFrame  # raw CRM values
    rows: pd.DataFrame  # the same records as CS values
    ids: pd.Series  # CRM id per row
    cs_id: pd.Series  # CS id per row; None: a new record
    links: dict[str, RecordLink]  # existing links, by CRM id
    parents: dict[str, tuple[int | None, str]]  # CRM id -> (CS parent id or None, parent CRM id)

    def synced(self, external_id: str) -> dict[str, Any]:
        """The last-synced values of a CRM record's link ({} when it has none yet)."""
        link = self.links.get(external_id)
        return link.synced_values if link else {}


@dataclass
class LinkedMerge:
    """What a chunk's linked records write: CS updates, link rows, conflicts and quarantine."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    new_links: list[dict[str, Any]] = field(default_factory=list)
    link_updates: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    vanished: set[str] = field(default_factory=set)  # CRM ids whose CS record no longer exists
    counts: PullCounts = field(default_factory=PullCounts)


def parent_columns(plan: ObjectPlan) -> list[str]:
    """The CS column that holds the parent, for objects that have one."""
    return [plan.mapping.parent.cs_field] if plan.mapping.parent else []


def merge_linked(store: Store, plan: ObjectPlan, matched: Matched) -> LinkedMerge:
    """Three-way merge of every linked record of the chunk; nothing is written here."""
    sel = matched.cs_id.index[matched.cs_id.notna().to_numpy()]
    if sel.empty:
        return LinkedMerge()
    cs_ids = matched.cs_id[sel].astype(int)
    names = [f.cs for f in plan.pull_fields]
    current = store.records.cs_frame(plan.cs_object, cs_ids.tolist(), [*names, *parent_columns(plan)])
    gone = ~cs_ids.isin(current.index)
    # Linked, but deleted in ClientSuccess since: keep the CRM record aside.
    quarantine = _vanished(plan, matched, cs_ids[gone])
    vanished = set(matched.ids[gone.index[gone]])
    sel, cs_ids = sel[~gone.to_numpy()], cs_ids[~gone]
    if sel.empty:
        return LinkedMerge(
            quarantine=quarantine, vanished=vanished, counts=PullCounts(quarantined=len(quarantine))
        )
    current = _aligned(plan, current, cs_ids, sel)
    merged = _merge_fields(plan, matched, current, sel)
    take_parent, parent_changed, parent_values = _merge_parent(plan, matched, current, sel)
    if plan.mapping.parent:
        merged.values[plan.mapping.parent.cs_field] = parent_values
    changed = merged.changed | parent_changed
    new_links, link_updates = _link_rows(plan, matched, merged, cs_ids, take_parent)
    parked = sum(link["parent_external_id"] is not None for link in [*new_links, *link_updates])
    return LinkedMerge(
        updates=_updates(plan, merged, cs_ids, changed, [*names, *parent_columns(plan)]),
        new_links=new_links,
        link_updates=link_updates,
        conflicts=_conflicts(matched, merged),
        quarantine=quarantine,
        vanished=vanished,
        counts=PullCounts(
            updated=int(changed.sum()),
            unchanged=int((~changed).sum()),
            conflicts=len(merged.conflicts),
            quarantined=len(quarantine),
            parked=parked,
        ),
    )


def _vanished(plan: ObjectPlan, matched: Matched, cs_ids: pd.Series) -> list[dict[str, Any]]:
    reasons = [
        f"ClientSuccess {plan.cs_object} {int(cs_id)}, linked to this {plan.crm} record, no longer exists"
        for cs_id in cs_ids
    ]
    index = cs_ids.index
    return quarantine_rows(matched.ext.loc[index], matched.ids[index], reasons, "cs_record_missing")


def _aligned(plan: ObjectPlan, current: pd.DataFrame, cs_ids: pd.Series, sel: pd.Index) -> pd.DataFrame:
    """Current CS values in the chunk's row order, pulled fields in their canonical form."""
    current = current.reindex(cs_ids.to_numpy())
    current.index = sel
    for f in plan.pull_fields:  # compare like with like: the canonical form the pulled values are in
        current[f.cs] = canonical(current[f.cs], f.kind)
    return current


def _merge_fields(plan: ObjectPlan, matched: Matched, current: pd.DataFrame, sel: pd.Index) -> PullMerge:
    import pandas as pd

    names = [f.cs for f in plan.pull_fields]
    base = base_frame(plan.pull_fields, [matched.synced(eid) for eid in matched.ids[sel]], sel)
    return merge_pull(
        plan.pull_fields,
        matched.rows.loc[sel, names],
        current[names],
        base,
        matched.ext.loc[sel, MODIFIED_AT],
        pd.to_datetime(current["updated_at"], utc=True),
    )


def _merge_parent(
    plan: ObjectPlan, matched: Matched, current: pd.DataFrame, sel: pd.Index
) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """The parent merges like a field: the side that moved it wins.

    Returns, per row: whether the CRM's parent is taken, whether that changes the CS record,
    and the merged parent column (None for objects without a parent).
    """
    import pandas as pd

    if not plan.mapping.parent:
        nothing = pd.Series(False, index=sel)
        return nothing, nothing, None
    ids = matched.ids[sel]
    crm_parent = pd.to_numeric(ids.map(lambda eid: matched.parents.get(eid, (None,))[0]), errors="coerce")
    last = pd.to_numeric(ids.map(lambda eid: matched.synced(eid).get(PARENT_SYNCED)), errors="coerce")
    cs_parent = pd.to_numeric(current[plan.mapping.parent.cs_field], errors="coerce")
    take = (crm_parent.notna() & (last.isna() | (crm_parent != last))).fillna(False).astype(bool)
    changed = take & (crm_parent != cs_parent).fillna(True).astype(bool)
    return take, changed, crm_parent.where(take, cs_parent)


def _updates(
    plan: ObjectPlan, merged: PullMerge, cs_ids: pd.Series, changed: pd.Series, columns: list[str]
) -> list[dict[str, Any]]:
    values = db_records(plan.cs_object, merged.values.loc[changed, columns])
    return [{"id": int(cs_id), **record} for cs_id, record in zip(cs_ids[changed], values, strict=True)]


def _link_rows(
    plan: ObjectPlan, matched: Matched, merged: PullMerge, cs_ids: pd.Series, take_parent: pd.Series
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New links for matched records, updated last-synced values for linked ones."""
    new_links, updates = [], []
    names = [f.cs for f in plan.pull_fields]
    sel = cs_ids.index
    stamps = matched.ext.loc[sel, MODIFIED_AT].dt.as_unit("us").astype("int64").tolist()
    rows = zip(sel, cs_ids, json_records(merged.base[names]), stamps, strict=True)
    for row, cs_id, values, stamp in rows:
        values[MODIFIED_SYNCED] = stamp  # this version is pulled: the overlap may skip it next time
        eid = matched.ids[row]
        parent = matched.parents.get(eid)
        if take_parent[row]:  # both sides now have the CRM's parent
            values[PARENT_SYNCED] = parent[0]
        link = {
            "cs_id": int(cs_id),
            "external_id": eid,
            "synced_values": {**matched.synced(eid), **values},
            "parent_external_id": parent[1] if parent and parent[0] is None else None,
        }
        if eid in matched.links:
            updates.append(link)
        else:
            new_links.append(link)
    return new_links, updates


def _conflicts(matched: Matched, merged: PullMerge) -> list[dict[str, Any]]:
    return [
        {
            "cs_id": int(matched.cs_id[c["row"]]),
            "external_id": str(matched.ids[c["row"]]),
            "field_name": c["field"],
            "base_value": c["base"],
            "cs_value": c["cs"],
            "external_value": c["external"],
            "policy": c["policy"],
            "winner": c["winner"],
        }
        for c in json_records(merged.conflicts)
    ]
