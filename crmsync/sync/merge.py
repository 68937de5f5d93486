"""Three-way merges of linked records against their last-synced values, column by column.

For each field: a change on one side wins; a change on both sides of a two-way field is a
conflict, resolved by the field's policy (newest wins by default) and recorded. A value just
pulled becomes the last-synced value, so it is never echoed back as a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmsync.mapping.compile import same

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.sync.plan import FieldPlan


@dataclass
class PullMerge:
    """What a pull does to linked CS records."""

    values: pd.DataFrame  # the merged CS values of every pulled field, per row
    changed: pd.Series  # bool per row: some field takes the CRM's value
    base: pd.DataFrame  # the new last-synced values of the pulled fields
    conflicts: pd.DataFrame  # one row per conflicting field: row, field, base, cs, external, policy, winner


def _casefold(field: FieldPlan) -> bool:
    # ClientSuccess values are case-insensitive: 'active' equals 'Active' on a value-mapped field.
    return bool(field.mapping.value_map)


def base_frame(fields: tuple[FieldPlan, ...], synced: list[dict], index: pd.Index) -> pd.DataFrame:
    """Links' last-synced values as a frame, with a ``<field>?`` column telling which were ever synced."""
    import pandas as pd

    names = [f.cs for f in fields]
    base = pd.DataFrame.from_records(synced, columns=names, index=index).astype("object")
    base = base.where(base.notna(), None)
    for name in names:
        base[f"{name}?"] = [name in values for values in synced]
    return base


def merge_pull(
    fields: tuple[FieldPlan, ...],
    pulled: pd.DataFrame,
    current: pd.DataFrame,
    base: pd.DataFrame,
    external_modified: pd.Series,
    cs_modified: pd.Series,
) -> PullMerge:
    """Merge pulled CRM values into current CS values, all frames aligned on one index.

    ``base`` holds the last-synced values; a column or cell missing there (never synced) means
    the CRM's non-empty value is taken as is, with no conflict.
    """
    import pandas as pd

    values, new_base = current.copy(), base.copy()
    changed = pd.Series(False, index=pulled.index)
    conflicts = []
    modified = (external_modified, cs_modified)
    for field in fields:
        merged = _merge_field(field, pulled[field.cs], current[field.cs], base, modified)
        values[field.cs], new_base[field.cs] = merged.value, merged.base
        changed |= merged.taken
        if merged.conflicts is not None:
            conflicts.append(merged.conflicts)
    return PullMerge(values=values, changed=changed, base=new_base, conflicts=_concat(conflicts))


@dataclass
class _FieldMerge:
    value: pd.Series  # the merged CS value
    base: pd.Series  # the new last-synced value
    taken: pd.Series  # bool: the CRM's value is taken
    conflicts: pd.DataFrame | None


def _merge_field(
    field: FieldPlan,
    new: pd.Series,
    cur: pd.Series,
    base: pd.DataFrame,
    modified: tuple[pd.Series, pd.Series],
) -> _FieldMerge:
    """One field of the three-way merge: a change on one side wins; on both, the policy decides."""
    import pandas as pd

    name, fold = field.cs, _casefold(field)
    old = base[name] if name in base else pd.Series(None, index=new.index, dtype="object")
    known = base[f"{name}?"] if f"{name}?" in base else pd.Series(False, index=new.index)
    external_changed = ~same(new, old, fold) & known
    first_sync = ~known & new.notna()
    cs_changed = ~same(cur, old, fold) & known
    conflict = external_changed & cs_changed & ~same(new, cur, fold)
    if not field.two_way:  # a pull-only field mirrors the CRM: its change always wins
        conflict &= False
    external_wins = _external_wins(field, conflict, *modified)
    take = ((external_changed | first_sync) & ~conflict) | (conflict & external_wins)
    take &= ~same(new, cur, fold)
    # After a pull, both sides hold the CRM's value where it was taken; where the CS side
    # won a conflict, the CRM still holds its value, so the push sends the CS value.
    touched = external_changed | first_sync | ~known
    rows = None
    if conflict.any():
        rows = pd.DataFrame(
            {
                "row": conflict.index[conflict],
                "field": name,
                "base": old[conflict].to_numpy(),
                "cs": cur[conflict].to_numpy(),
                "external": new[conflict].to_numpy(),
                "policy": field.mapping.policy,
                "winner": external_wins[conflict].map({True: "external", False: "cs"}).to_numpy(),
            }
        )
    return _FieldMerge(value=new.where(take, cur), base=new.where(touched, old), taken=take, conflicts=rows)


def _concat(conflicts: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if conflicts:
        return pd.concat(conflicts, ignore_index=True)
    return pd.DataFrame(columns=["row", "field", "base", "cs", "external", "policy", "winner"])


def _external_wins(
    field: FieldPlan, conflict: pd.Series, external_modified: pd.Series, cs_modified: pd.Series
) -> pd.Series:
    import pandas as pd

    policy = field.mapping.policy
    if policy == "external_wins":
        return pd.Series(True, index=conflict.index)
    if policy == "cs_wins":
        return pd.Series(False, index=conflict.index)
    return (external_modified >= cs_modified).fillna(True).astype(bool)  # newest wins; a tie goes to the CRM


def push_changes(fields: tuple[FieldPlan, ...], current: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Per row and pushed field: True where the CS value differs from the last-synced one."""
    import pandas as pd

    changes = {}
    for field in fields:
        old = base[field.cs] if field.cs in base else pd.Series(None, index=current.index, dtype="object")
        known = base[f"{field.cs}?"] if f"{field.cs}?" in base else pd.Series(False, index=current.index)
        changes[field.cs] = ~same(current[field.cs], old, _casefold(field)) | ~known
    return pd.DataFrame(changes, index=current.index)
