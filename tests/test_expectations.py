"""The vectorised checks mark exactly the rows Great Expectations' own engine marks."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmsync import validation
from crmsync.config import EXPECTATIONS_DIR

# Values chosen to sit on every edge: nulls of each kind, bounds, case, lengths, odd text.
TEXT = [
    "Acme",
    "",
    None,
    np.nan,
    "x" * 255,
    "x" * 256,
    "ACTIVE",
    "active",
    "Active",
    "a@b.co",
    "not an email",
]
TEXT += [
    "acme.com",
    "-bad-.com",
    "sub.acme.co.uk",
    " lead space",
    "tab\there",
    "ünïcode.de",
    "Trial",
    "Churned",
]
NUMBERS = [0, -1, 1, 2147483647, 2147483648, None, np.nan, 10**15, 10**15 + 1, 3.5, -0.0, Decimal("12.50")]
DATES = [date(2026, 1, 1), date(2025, 12, 31), None, date(2026, 1, 2), pd.NaT]


def _corpus(columns: list[str], n: int = 60) -> pd.DataFrame:
    """A frame whose every column cycles through edge values of a kind that suits its name."""
    rng = np.random.default_rng(7)
    data = {}
    for name in columns:
        pool = DATES if name.endswith("_date") else NUMBERS if name in NUMERIC else TEXT
        data[name] = [pool[i] for i in rng.integers(0, len(pool), n)]
    return pd.DataFrame(data, index=[f"r{i}" for i in range(n)], dtype=object)


NUMERIC = {"employees", "annual_revenue", "amount", "client_id"}
SUITES = sorted(p.name.removesuffix(".json") for p in EXPECTATIONS_DIR.glob("*.*.json"))


def _both(frame: pd.DataFrame, cs_object: str, direction: str, directory: Path | None = None):
    checks = validation._compiled(cs_object, direction, directory)
    assert checks is not None, "the suite should compile to vectorised checks"
    fast = validation._failed_checks(checks, frame, f"{cs_object}.{direction}")
    slow = validation._run_gx(frame, cs_object, direction, directory)
    return fast, slow


@pytest.mark.parametrize("name", SUITES)
def test_shipped_suites_mark_the_same_rows_with_the_same_reasons(name):
    cs_object, direction = name.split(".")
    suite = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    columns = sorted(
        {e["kwargs"][k] for e in suite["expectations"] for k in e["kwargs"] if k.startswith("column")}
    )
    fast, slow = _both(_corpus(columns), cs_object, direction)
    assert fast == slow
    assert fast, "the corpus should make some rows fail"


SYNTHETIC = [
    ("expect_column_values_to_be_between", {"column": "employees", "min_value": 0, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "employees", "max_value": 1, "strict_max": True}),
    ("expect_column_values_to_be_in_set", {"column": "status", "value_set": ["Active", "Trial"]}),
    ("expect_column_value_lengths_to_be_between", {"column": "name", "min_value": 1, "max_value": 4}),
    ("expect_column_values_to_match_regex", {"column": "domain", "regex": "acme"}),
]


@pytest.mark.parametrize(("type_", "kwargs"), SYNTHETIC, ids=lambda v: v if isinstance(v, str) else "")
def test_each_check_marks_the_rows_gx_marks(tmp_path: Path, type_, kwargs):
    expectation = {"type": type_, "kwargs": kwargs, "meta": {}}
    (tmp_path / "clients.pull.json").write_text(
        json.dumps({"name": "clients.pull", "expectations": [expectation]})
    )
    frame = _corpus(["name", "status", "domain", "employees"])
    if type_.endswith("_between") and "employees" in kwargs.values():
        frame["employees"] = pd.to_numeric(frame["employees"], errors="coerce").astype(object)
    fast, slow = _both(frame, "clients", "pull", tmp_path)
    assert fast == slow


@pytest.mark.parametrize("ignore", ["both_values_are_missing", "either_value_is_missing", "neither"])
@pytest.mark.parametrize("or_equal", [True, False])
def test_pairs_ignore_rows_as_gx_does(tmp_path: Path, ignore, or_equal):
    kwargs = {"column_A": "end_date", "column_B": "start_date", "or_equal": or_equal, "ignore_row_if": ignore}
    expectation = {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": kwargs, "meta": {}}
    (tmp_path / "subscriptions.pull.json").write_text(
        json.dumps({"name": "subscriptions.pull", "expectations": [expectation]})
    )
    fast, slow = _both(_corpus(["start_date", "end_date"]), "subscriptions", "pull", tmp_path)
    assert fast == slow


def test_a_type_the_checks_do_not_know_runs_on_gx(tmp_path: Path):
    unknown = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "name"}, "meta": {}}
    (tmp_path / "clients.pull.json").write_text(
        json.dumps({"name": "clients.pull", "expectations": [unknown]})
    )
    assert validation._compiled("clients", "pull", tmp_path) is None
    failures = validation.validate(
        pd.DataFrame({"name": ["a", "a", "b"]}), "clients", "pull", tmp_path
    ).failures
    assert list(failures.index) == [0, 1]
