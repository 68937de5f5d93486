"""Each named transform: vectorised, missing stays missing, idempotent."""

from datetime import date

import pandas as pd
import pytest

from crmsync.mapping.transforms import TRANSFORMS


def _run(name, values):
    return TRANSFORMS[name](pd.Series(values, dtype="object"))


def _plain(series):
    return [None if pd.isna(v) else v for v in series.tolist()]


CASES = {
    "lower": (["ACME", "MiXed", None], ["acme", "mixed", None]),
    "upper": (["acme", None], ["ACME", None]),
    "strip": ([" a ", "   ", None], ["a", None, None]),
    "domain_from_url": (
        ["https://www.Acme.com/about", "acme.com", "http://shop.acme.io:8080?x=1", "", None],
        ["acme.com", "acme.com", "shop.acme.io", None, None],
    ),
    "to_date": (
        ["2026-01-05", 1767571200000, "1767571200000", "2026-03-01T23:30:00Z", "not a date", None],
        [date(2026, 1, 5), date(2026, 1, 5), date(2026, 1, 5), date(2026, 3, 1), None, None],
    ),
    "to_decimal": (["12.50", 3, "x", None], [12.5, 3.0, None, None]),
    "to_int": (["12", 3.6, "x", None, "1e20", "1e309", "-inf"], [12, 4, None, None, None, None, None]),
}


def test_every_transform_is_tested():
    assert set(CASES) == set(TRANSFORMS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_transform(name):
    values, expected = CASES[name]
    result = _run(name, values)
    assert len(result) == len(values)
    assert _plain(result) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_transform_is_idempotent(name):
    once = _run(name, CASES[name][0])
    assert _plain(TRANSFORMS[name](once.astype("object"))) == _plain(once)
