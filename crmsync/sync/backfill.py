"""A backfill's windows: [since, until) cut into ``window``-sized pieces, each a run of its own.

A backfill re-pulls the records the CRM changed in each window; it never pushes and never moves
the incremental cursor (``runner.Window``). A completed window is recorded in the store
(``backfill_windows``), so a re-run of the same backfill skips it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import WithJsonSchema

from crmsync.errors import ConfigError

UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_WINDOWS = 10_000
WINDOW_PATTERN = r"^\s*([1-9][0-9]{0,4})\s*([mhdw])\s*$"
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

# The backfill flow's parameter types. Prefect's server checks a deployment run's parameters
# against the flow's JSON schema when the run is created, but not ``format: date``: a pattern it
# does check, so a malformed date or window is refused before any worker picks the run up.
Day = Annotated[date, WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN})]
WindowSize = Annotated[str, WithJsonSchema({"type": "string", "pattern": WINDOW_PATTERN})]

WindowDone = Callable[[datetime, datetime, str], None]  # (start, end, status)
_hooks: dict[str, WindowDone] = {}


def parse_window(text: str) -> timedelta:
    """``30m``, ``6h``, ``1d`` or ``2w`` as a duration; anything else is a one-line error."""
    found = re.match(WINDOW_PATTERN, text or "")
    if not found:
        raise ConfigError(f"window {text!r} is not a duration like 30m, 6h, 1d or 2w")
    return int(found.group(1)) * UNITS[found.group(2)]


def day_start(day: date) -> datetime:
    """Midnight UTC of a day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def split_windows(since: date, until: date | None, window: str) -> list[tuple[datetime, datetime]]:
    """[since, until) in windows of ``window`` (the last may be shorter); until defaults to tomorrow."""
    step = parse_window(window)
    start = day_start(since)
    end = day_start(until) if until else day_start(datetime.now(UTC).date() + timedelta(days=1))
    if end <= start:
        raise ConfigError(f"until ({end.date()}) must be after since ({since})")
    if (end - start) / step > MAX_WINDOWS:
        raise ConfigError(
            f"window {window!r} cuts {since}..{end.date()} into more than {MAX_WINDOWS} windows"
        )
    windows = []
    while start < end:
        windows.append((start, min(start + step, end)))
        start += step
    return windows


def set_window_hook(callback: WindowDone | None) -> None:
    """Let the CLI advance a progress bar: called after each window (done or skipped)."""
    if callback is None:
        _hooks.pop("on", None)
    else:
        _hooks["on"] = callback


def window_done(start: datetime, end: datetime, status: str) -> None:
    """Tell the hook, if any, that a window ended."""
    if "on" in _hooks:
        _hooks["on"](start, end, status)
