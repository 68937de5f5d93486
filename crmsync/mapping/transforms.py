"""Named transforms a mapping may apply to a column: small, pure, vectorised over a pandas Series.

A mapping names them (``transform: domain_from_url``); nothing is ever evaluated from a string.
Each one leaves missing values missing and is idempotent, so applying it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

Transform = Callable[["pd.Series"], "pd.Series"]


def lower(values: pd.Series) -> pd.Series:
    """Lower-case text."""
    return values.astype("string").str.lower()


def upper(values: pd.Series) -> pd.Series:
    """Upper-case text."""
    return values.astype("string").str.upper()


def strip(values: pd.Series) -> pd.Series:
    """Trim surrounding white space; an empty result becomes missing."""
    stripped = values.astype("string").str.strip()
    return stripped.mask(stripped == "")


def domain_from_url(values: pd.Series) -> pd.Series:
    """``https://www.Acme.com/about`` -> ``acme.com``; a bare domain stays as it is (lower-cased)."""
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(r"^[a-z][a-z0-9+.-]*://", "", regex=True)
    text = text.str.replace(r"^www\.", "", regex=True)
    text = text.str.replace(r"[/?#:].*$", "", regex=True)
    return text.mask(text == "")


def to_date(values: pd.Series) -> pd.Series:
    """Dates from ISO text, datetimes or epoch milliseconds (HubSpot's date format); bad values -> missing."""
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    from_epoch = pd.to_datetime(numeric.where(numeric > 10_000_000_000), unit="ms", utc=True, errors="coerce")
    from_text = pd.to_datetime(
        values.where(numeric.isna()).astype("string"), utc=True, errors="coerce", format="mixed"
    )
    return from_epoch.fillna(from_text).dt.date.astype("object").where(lambda s: s.notna(), None)


def to_decimal(values: pd.Series) -> pd.Series:
    """Numbers (money, counts) as nullable floats; bad values -> missing.

    Kept vectorised as Float64: the store's NUMERIC(18, 2) columns round on write, and every
    amount a CRM sends (at most 15 significant digits) round-trips exactly through a double.
    """
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype("Float64")


INT64_LIMIT = 2.0**63  # the first float a 64-bit integer cannot hold


def to_int(values: pd.Series) -> pd.Series:
    """Whole numbers (nullable); bad values, and values no 64-bit integer holds (1e20, inf) -> missing."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return numbers.where(numbers.abs() < INT64_LIMIT).round().astype("Int64")


TRANSFORMS: dict[str, Transform] = {
    fn.__name__: fn for fn in (lower, upper, strip, domain_from_url, to_date, to_decimal, to_int)
}
