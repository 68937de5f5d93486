"""Chunks as plain records: for JSON columns (last-synced values, quarantine) and for the database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from crmsync.sync.plan import cs_kind

if TYPE_CHECKING:
    import pandas as pd


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN -> None, dates -> ISO text), converted in one vectorised pass."""
    return json.loads(
        frame.to_json(orient="records", date_format="iso", default_handler=str, double_precision=15)
    )


def db_records(cs_object: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical rows as the database takes them: dates as dates, whole numbers as ints, None for missing."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        kind = cs_kind(cs_object, name)
        if kind == "date":
            out[name] = pd.to_datetime(out[name], errors="coerce").dt.date
        elif kind == "int":
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("Int64")
        out[name] = out[name].astype("object").where(out[name].notna(), None)
    return out.to_dict(orient="records")


def quarantine_rows(
    raw: pd.DataFrame, keys: pd.Series, reasons: pd.Series, rules: pd.Series | str
) -> list[dict[str, Any]]:
    """Quarantine rows for these records: the key, the raw record (for replay), reason and rule."""
    import pandas as pd

    rules = rules if isinstance(rules, pd.Series) else pd.Series(rules, index=raw.index)
    return [
        {"record_key": str(key), "raw": record, "reason": str(reason), "rule": str(rule)}
        for key, record, reason, rule in zip(keys, json_records(raw), reasons, rules, strict=True)
    ]
