"""A mapping compiled into whole-column pandas operations, for pull (CRM -> CS) and push (CS -> CRM).

Values on the CS side are kept in one canonical form per kind, the same form the store's
links keep as last-synced values: text as str, int as int, number as float rounded to cents,
date as an ISO ``YYYY-MM-DD`` string, and None for missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from crmsync.mapping.transforms import TRANSFORMS

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.connectors.base import ExternalRecord
    from crmsync.sync.plan import FieldPlan, ObjectPlan

EXTERNAL_ID = "_external_id"
MODIFIED_AT = "_modified_at"


def _nullable(series: pd.Series) -> pd.Series:
    """Object dtype with None for every kind of missing value."""
    return series.astype("object").where(series.notna(), None)


def canonical(series: pd.Series, kind: str) -> pd.Series:
    """Values of one CS kind in canonical form (see the module docstring)."""
    import pandas as pd

    if kind == "int":
        return _nullable(TRANSFORMS["to_int"](series))
    if kind == "number":
        return _nullable(pd.to_numeric(series, errors="coerce").astype("Float64").round(2))
    if kind == "date":
        dates = pd.to_datetime(TRANSFORMS["to_date"](series), errors="coerce")
        return _nullable(dates.dt.strftime("%Y-%m-%d"))
    text = series.astype("string")
    return _nullable(text.mask(text == ""))


def same(left: pd.Series, right: pd.Series, casefold: bool = False) -> pd.Series:
    """Element-wise equality where missing equals missing (``==`` says NaN != NaN)."""
    if casefold:
        left, right = left.astype("string").str.casefold(), right.astype("string").str.casefold()
    both_missing = left.isna() & right.isna()
    equal = (left == right).fillna(False).astype(bool)
    return both_missing | (equal & left.notna() & right.notna())


def records_frame(records: Sequence[ExternalRecord], fields: Sequence[str]) -> pd.DataFrame:
    """A page of CRM records as one DataFrame: id, modified time, then the requested fields."""
    import pandas as pd

    frame = pd.DataFrame.from_records([r.values for r in records], columns=list(fields))
    frame.insert(0, EXTERNAL_ID, [r.id for r in records])
    frame.insert(1, MODIFIED_AT, pd.to_datetime([r.modified_at for r in records], utc=True))
    return frame


def _casefold_map(mapping: dict[str, str]) -> dict[str, str]:
    return {key.casefold(): value for key, value in mapping.items()}


def pull_values(field: FieldPlan, external: pd.Series) -> pd.Series:
    """One pulled column, CRM -> CS: named transform, inverse value map, canonical CS form."""
    values = external
    if field.mapping.transform:
        values = TRANSFORMS[field.mapping.transform](values)
    if field.mapping.value_map:
        inverse = _casefold_map({ext: cs for cs, ext in field.mapping.value_map.items()})
        mapped = values.astype("string").str.casefold().map(inverse)
        values = mapped.where(mapped.notna(), values)  # an unmapped value stays, for validation to judge
    return canonical(values, field.kind)


def to_cs(plan: ObjectPlan, external: pd.DataFrame) -> pd.DataFrame:
    """Pulled CRM records as CS rows (only the fields that pull, plus the match field)."""
    import pandas as pd

    columns = {f.cs: pull_values(f, external[f.external]) for f in plan.pull_fields}
    match = plan.mapping.match
    if match and match.cs not in columns:
        source = next((f for f in plan.fields if f.cs == match.cs), None)
        raw = external[match.external]
        columns[match.cs] = pull_values(source, raw) if source else canonical(raw, "text")
    return pd.DataFrame(columns, index=external.index)


def unreadable(plan: ObjectPlan, external: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """A reason for each row where a CRM value could not be read as its CS kind (else NA).

    Casting coerces bad values to missing; without this check a value like employees='many'
    would silently clear the CS field instead of being quarantined.
    """
    import pandas as pd

    reasons = pd.Series(pd.NA, index=rows.index, dtype="object")
    for field in plan.pull_fields:
        if field.kind == "text":
            continue
        raw = external.loc[rows.index, field.external]
        present = raw.notna() & (raw.astype("string").str.strip() != "")
        bad = present & rows[field.cs].isna() & reasons.isna()
        numeric = pd.to_numeric(raw, errors="coerce").notna()
        what = numeric.map({True: " is out of range", False: f" is not a valid {field.kind}"})
        reasons[bad] = f"{field.external} " + _shown(raw[bad]) + what[bad] + f" for {field.cs}"
    return reasons


def _shown(values: pd.Series) -> pd.Series:
    """Values quoted for a reason line: NUL made visible, at most 60 characters."""
    text = values.astype(str).str.replace("\x00", "\\0", regex=False)
    return "'" + text.where(text.str.len() <= 60, text.str.slice(0, 57) + "...") + "'"


def storable(plan: ObjectPlan, rows: pd.DataFrame) -> pd.Series:
    """A reason for each row holding a CS value its store column cannot hold (else NA).

    PostgreSQL refuses NUL in text, numbers past a column's precision and strings past its
    length, and refuses the whole chunk with them; so such a record is quarantined instead.
    """
    import pandas as pd

    from crmsync.sync.plan import column_bounds

    reasons = pd.Series(pd.NA, index=rows.index, dtype="object")
    for field in plan.pull_fields:
        values = rows[field.cs]
        why = _unstorable(field.kind, field.cs, values, column_bounds(plan.cs_object, field.cs))
        bad = why.notna() & reasons.isna()
        reasons[bad] = f"{field.external} " + _shown(values[bad]) + why[bad]
    return reasons


def _unstorable(kind: str, name: str, values: pd.Series, limit: float | None) -> pd.Series:
    """Why each value of one CS column cannot be stored in it (else NA), one column at a time."""
    import pandas as pd

    why = pd.Series(pd.NA, index=values.index, dtype="object")
    if kind == "text":
        text = values.astype("string")
        if limit:
            why[(text.str.len() > limit).fillna(False).astype(bool)] = (
                f" is longer than the {limit} characters {name} holds"
            )
        nul = text.str.contains("\x00", regex=False).fillna(False).astype(bool)
        why[nul] = f" contains a NUL character, which {name} cannot hold"
    elif kind in ("int", "number") and limit:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        why[(~(numbers.abs() < limit) & numbers.notna()).astype(bool)] = (
            f" is out of range for {name} (its size must stay below {limit:.0f})"
        )
    return why


def _resolve_options(
    field: FieldPlan, values: pd.Series, options: Sequence[str], crm: str, sending: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Resolve values against the CRM's live option list, case-insensitively ('active' -> 'Active').

    Returns the resolved values and, for values with no match, a one-line reason (else NA).
    """
    import pandas as pd

    exact = {option.casefold(): option for option in options}
    resolved = values.astype("string").str.casefold().map(exact)
    missing = values.notna() & resolved.isna() & sending
    allowed = ", ".join(options)
    reasons = pd.Series(pd.NA, index=values.index, dtype="object")
    reasons[missing] = (
        f"{field.cs} '"
        + values[missing].astype(str)
        + f"' has no match among the {crm} options for {field.external} ({allowed})"
    )
    return resolved.astype("object").where(resolved.notna(), values), reasons


def to_external(
    plan: ObjectPlan,
    rows: pd.DataFrame,
    options: dict[str, tuple[str, ...]],
    sending: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """CS rows as CRM values for the fields that push, and a reason for each row that can't go.

    ``options`` holds the live enumeration / picklist values of the CRM's fields. A value with
    no case-insensitive match is rejected here, before any API call. ``sending`` (CS field ->
    bool per row) limits that check to the fields a row actually sends, so an old value of an
    unchanged field never blocks an update of another.
    """
    import pandas as pd

    out: dict[str, pd.Series] = {}
    reasons = pd.Series(pd.NA, index=rows.index, dtype="object")
    for field in plan.push_fields:
        values = rows[field.cs]
        if field.mapping.value_map:
            mapped = values.astype("string").str.casefold().map(_casefold_map(field.mapping.value_map))
            values = mapped.astype("object").where(mapped.notna(), values)
        if field.mapping.push_transform:
            values = TRANSFORMS[field.mapping.push_transform](values)
        if options.get(field.external):
            sent = sending[field.cs] if sending is not None else pd.Series(True, index=rows.index)
            values, rejected = _resolve_options(field, values, options[field.external], plan.crm, sent)
            reasons = reasons.where(reasons.notna(), rejected)
        out[field.external] = _nullable(values)
    return pd.DataFrame(out, index=rows.index), reasons
