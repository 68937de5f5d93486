"""The row-level expectations of a Great Expectations suite, evaluated as vectorised pandas checks.

GX's own engine costs a fixed ~0.1 s per expectation per chunk, and ~2 s to import, which
made validation the largest local cost of a pull. The six expectation types our suites use
are evaluated here on whole columns instead, with GX's semantics (nulls are not judged by a
column-map expectation; ``ignore_row_if`` for pairs); ``tests/test_expectations.py`` checks
that every check marks exactly the rows GX marks. A suite with any other type, or with a
keyword this module does not know, is run by GX itself (``crmsync.validation``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pandas as pd

# type -> the keywords it may carry (besides ``mostly``, which must be 1)
KNOWN: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset({"column"}),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set"}),
    "expect_column_values_to_be_between": frozenset(
        {"column", "min_value", "max_value", "strict_min", "strict_max"}
    ),
    "expect_column_value_lengths_to_be_between": frozenset({"column", "min_value", "max_value"}),
    "expect_column_values_to_match_regex": frozenset({"column", "regex"}),
    "expect_column_pair_values_a_to_be_greater_than_b": frozenset(
        {"column_A", "column_B", "or_equal", "ignore_row_if"}
    ),
}
IGNORE_ROW_IF = ("both_values_are_missing", "either_value_is_missing", "neither")
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"


class CannotRun(Exception):
    """A check could not be computed on a chunk (e.g. a number bound on a text column)."""


@dataclass(frozen=True)
class Check:
    """One expectation of a suite: its type, keywords and meta, as the suite file gives them."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The columns the check reads, in the order it names them."""
        return [self.kwargs[key] for key in ("column", "column_A", "column_B") if key in self.kwargs]

    def unexpected(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean per row: True where the row fails this expectation."""
        try:
            if self.type == PAIR:
                return _pair(frame, self.kwargs)
            column = frame[self.kwargs["column"]]
            if self.type == "expect_column_values_to_not_be_null":
                return column.isna().to_numpy()
            present = column.notna().to_numpy()
            bad = present.copy()
            bad[present] = ~_holds(self.type, column[present], self.kwargs).to_numpy(dtype=bool)
            return bad
        except (TypeError, ValueError) as exc:
            raise CannotRun(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def compile_suite(path: Path, fields: set[str]) -> list[Check] | None:
    """The suite's checks, or None when GX must run it (or explain what is wrong with it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        checks = [_check(raw, fields) for raw in data["expectations"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, re.error):
        return None
    return None if any(c is None for c in checks) else checks


def _check(raw: dict[str, Any], fields: set[str]) -> Check | None:
    kwargs = dict(raw.get("kwargs") or {})
    allowed = KNOWN.get(raw["type"])
    if allowed is None or set(raw) - {"type", "kwargs", "meta"} or kwargs.pop("mostly", 1) != 1:
        return None
    if set(kwargs) - allowed or not set(kwargs) >= _required(raw["type"]):
        return None
    check = Check(raw["type"], kwargs, dict(raw.get("meta") or {}))
    if not set(check.columns) <= fields or not _well_typed(check):
        return None
    return check


def _required(type_: str) -> set[str]:
    return {"column_A", "column_B"} if type_ == PAIR else {"column"}


def _well_typed(check: Check) -> bool:
    kw = check.kwargs
    if "regex" in kw:
        re.compile(kw["regex"])
    if "value_set" in kw and not isinstance(kw["value_set"], list):
        return False
    bounds = [kw.get("min_value"), kw.get("max_value")]
    if check.type.endswith("_between") and all(b is None for b in bounds):
        return False  # GX refuses a range with no bound: let it say so
    if any(b is not None and not isinstance(b, int | float) for b in bounds):
        return False
    return kw.get("ignore_row_if", IGNORE_ROW_IF[0]) in IGNORE_ROW_IF


def _holds(type_: str, column: pd.Series, kw: dict[str, Any]) -> pd.Series:
    """Where a non-null value meets the expectation (nulls are not judged, as in GX)."""
    if type_ == "expect_column_values_to_be_in_set":
        return column.isin(kw["value_set"])
    if type_ == "expect_column_values_to_match_regex":
        return column.astype(str).str.contains(kw["regex"], regex=True)
    if type_ == "expect_column_value_lengths_to_be_between":
        return _within(column.str.len(), kw)
    return _within(column, kw)


def _within(values: pd.Series, kw: dict[str, Any]) -> pd.Series:
    import pandas as pd

    ok = pd.Series(True, index=values.index)
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None:
        ok &= values > low if kw.get("strict_min") else values >= low
    if high is not None:
        ok &= values < high if kw.get("strict_max") else values <= high
    return ok.fillna(False).astype(bool)


def _pair(frame: pd.DataFrame, kw: dict[str, Any]) -> np.ndarray:
    a, b = frame[kw["column_A"]], frame[kw["column_B"]]
    missing_a, missing_b = a.isna(), b.isna()
    ignore = kw.get("ignore_row_if", IGNORE_ROW_IF[0])
    ignored = {
        "both_values_are_missing": missing_a & missing_b,
        "either_value_is_missing": missing_a | missing_b,
        "neither": missing_a & False,
    }[ignore]
    judged = ~ignored
    holds = a[judged] >= b[judged] if kw.get("or_equal") else a[judged] > b[judged]
    bad = judged.copy()
    bad[judged] = ~holds.astype(bool)
    return bad.to_numpy()
