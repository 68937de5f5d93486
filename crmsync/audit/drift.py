"""Drift between the two sides of one integration × object, found on full reads of both.

Five kinds: a link whose CRM record is gone, a link whose CS record is gone, a CRM record not
linked while the object pulls, a CS record not linked while it pushes, and a field whose two
values differ although its effective direction says they should agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmsync.audit.sides import differs, read_crm, read_cs, read_links
from crmsync.settings import Effective

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.sync.context import RunContext
    from crmsync.sync.plan import ObjectPlan

COLUMNS = ["kind", "cs_id", "external_id", "field", "cs_value", "crm_value", "direction"]

KINDS = {
    "crm_missing": "linked, but the {crm} record is gone",
    "cs_missing": "linked, but the ClientSuccess record is gone",
    "crm_unlinked": "{crm} record not linked while the object pulls",
    "cs_unlinked": "ClientSuccess record not linked while the object pushes",
    "field": "values differ where the direction says they agree",
}


@dataclass
class Audit:
    """One object's drift, with the full reads it was found on (a repair needs them)."""

    plan: ObjectPlan
    drift: pd.DataFrame  # COLUMNS, one row per drifted record (per field for kind "field")
    crm: pd.DataFrame  # by CRM id: raw values, _modified_at, and "cs:<field>" in CS form
    cs: pd.DataFrame  # by CS id: canonical values and updated_at
    links: pd.DataFrame  # cs_id, external_id, synced_values

    def counts(self) -> dict[str, int]:
        """Drifted rows per kind, every kind listed."""
        found = self.drift["kind"].value_counts()
        return {kind: int(found.get(kind, 0)) for kind in KINDS}


def audit_object(ctx: RunContext) -> Audit:
    """Read both sides in full and report where they drifted apart."""
    import pandas as pd

    plan = ctx.plan
    crm, cs, links = read_crm(ctx.connector, plan), read_cs(ctx.store, plan), read_links(ctx.store, plan)
    parts = [*_one_sided(links, crm, cs), *_unlinked(plan, links, crm, cs), *_fields(plan, links, crm, cs)]
    parts = [p for p in parts if not p.empty]
    drift = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return Audit(plan, drift.reindex(columns=COLUMNS), crm, cs, links)


def _rows(kind: str, cs_ids: Iterable[Any], external_ids: Iterable[Any], **more: Any) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({"cs_id": list(cs_ids), "external_id": list(external_ids), **more})
    frame.insert(0, "kind", kind)
    return frame.astype({"cs_id": "object"})


def _one_sided(links: pd.DataFrame, crm: pd.DataFrame, cs: pd.DataFrame) -> list[pd.DataFrame]:
    """Links whose CRM record or CS record no longer exists."""
    no_crm = links[~links["external_id"].isin(crm.index)]
    no_cs = links[~links["cs_id"].isin(cs.index)]
    return [
        _rows("crm_missing", no_crm["cs_id"], no_crm["external_id"]),
        _rows("cs_missing", no_cs["cs_id"], no_cs["external_id"]),
    ]


def _unlinked(
    plan: ObjectPlan, links: pd.DataFrame, crm: pd.DataFrame, cs: pd.DataFrame
) -> list[pd.DataFrame]:
    """Records on one side only that the current directions say belong on both."""
    parts = []
    if plan.pull_fields:
        alone = crm.index[~crm.index.isin(links["external_id"])]
        parts.append(_rows("crm_unlinked", [None] * len(alone), alone))
    if plan.push_fields:
        alone = cs.index[~cs.index.isin(links["cs_id"])]
        parts.append(_rows("cs_unlinked", alone, [None] * len(alone)))
    return parts


def _fields(plan: ObjectPlan, links: pd.DataFrame, crm: pd.DataFrame, cs: pd.DataFrame) -> list[pd.DataFrame]:
    """Linked pairs whose values differ on a field that syncs in some direction."""
    both = links[links["external_id"].isin(crm.index) & links["cs_id"].isin(cs.index)]
    cs_side = cs.loc[both["cs_id"]].reset_index(drop=True)
    crm_side = crm.loc[both["external_id"]].reset_index(drop=True)
    parts = []
    for f in plan.fields:
        if f.effective is Effective.NONE:
            continue
        bad = differs(f, cs_side[f.cs], crm_side[f"cs:{f.cs}"]).to_numpy()
        parts.append(
            _rows(
                "field",
                both["cs_id"].to_numpy()[bad],
                both["external_id"].to_numpy()[bad],
                field=f.cs,
                cs_value=cs_side[f.cs].to_numpy()[bad],
                crm_value=crm_side[f"cs:{f.cs}"].to_numpy()[bad],
                direction=f.effective.value,
            )
        )
    return parts
