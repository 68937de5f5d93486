"""Crash injection for the reliability tests: ``CRMSYNC_CRASH_AT=point[:n]`` kills the process.

The process dies with ``os._exit`` at the n-th time it reaches the named point (default the
first), as a power cut would: no cleanup, no commit. Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os
from collections import Counter

_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Die here if CRMSYNC_CRASH_AT names this point (used by tests that kill a run mid-load)."""
    spec = os.environ.get("CRMSYNC_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os._exit(137)
