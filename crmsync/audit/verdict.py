"""One line per field: why its two values differ right now (or that they agree).

The direction words come from the hierarchy itself (``effective_direction``, ``why_overridden``,
``deciding_level``); this module only reads the values against the last-synced one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmsync.settings import Effective, deciding_level, why_overridden


@dataclass(frozen=True)
class FieldValues:
    """A field's value on each side (CS form), the last-synced value, and whether one was ever synced."""

    cs: Any
    crm: Any
    synced: Any
    known: bool


@dataclass(frozen=True)
class RecordState:
    """What a field's verdict needs to know about the whole record."""

    crm: str  # display name, e.g. HubSpot
    enabled: bool
    object_direction: str
    linked: bool
    crm_exists: bool
    cs_exists: bool
    quarantine: str | None  # the reason of an open quarantine entry, if any


def _equal(left: Any, right: Any, casefold: bool) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if casefold:
        return str(left).casefold() == str(right).casefold()
    return left == right


def verdict(field: Any, values: FieldValues, record: RecordState) -> str:
    """Why ``field`` (a FieldPlan) differs on the two sides right now, in one line."""
    fold = bool(field.mapping.value_map)
    if not record.crm_exists or not record.cs_exists:
        side = record.crm if not record.crm_exists else "ClientSuccess"
        return f"no {side} record: {'linked, but it is gone' if record.linked else 'nothing to compare with'}"
    if _equal(values.cs, values.crm, fold):
        return "in sync"
    if record.quarantine:
        return f"quarantined: {record.quarantine}"
    if field.effective is Effective.NONE:
        why = why_overridden(record.enabled, record.object_direction, field.mapping.direction)
        return f"not synced: {why or 'the field mapping syncs it in neither direction'}"
    if not record.linked:
        return "not linked yet: the next run links the two records"
    return _moved(field, values, record.crm, fold)


def _moved(field: Any, values: FieldValues, crm: str, fold: bool) -> str:
    """Which side changed since the last sync, read against what the direction lets through."""
    if not values.known:
        return "never synced: the next run sends it"
    cs_moved = not _equal(values.cs, values.synced, fold)
    crm_moved = not _equal(values.crm, values.synced, fold)
    if field.effective is Effective.PULL:
        if cs_moved and not crm_moved:
            return "pull only: ClientSuccess edits are not pushed"
        return f"waiting for the next run: changed in {crm} after the last pull"
    if field.effective is Effective.PUSH:
        if crm_moved and not cs_moved:
            return f"push only: {crm} edits are not pulled"
        return "waiting for the next run: changed in ClientSuccess after the last push"
    if cs_moved and crm_moved:
        return f"conflict at the next run: both sides changed; the {field.mapping.policy} policy decides"
    side = crm if crm_moved else "ClientSuccess"
    return f"waiting for the next run: changed in {side} after the last sync"


def direction_row(field: Any, enabled: bool, object_direction: str) -> dict[str, Any]:
    """A field's mapped and effective direction, and which level of the hierarchy decided it."""
    return {
        "mapped": str(field.mapping.direction),
        "effective": field.effective.value,
        "decided_by": deciding_level(enabled, object_direction, field.mapping.direction),
        "why": why_overridden(enabled, object_direction, field.mapping.direction),
    }
