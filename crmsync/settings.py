"""Integration settings and the direction hierarchy: global toggle > object direction > field mapping.

``effective_direction`` is the one place that decides whether a field pushes, pulls, both or
neither. The flows, the CLI and the web page all ask it; none of them repeats the rule.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from crmsync.connectors import registry as _registry
from crmsync.errors import ConfigError


class ObjectDirection(StrEnum):
    """An object's sync direction, as chosen on the configuration page (item 4)."""

    PUSH_PULL = "push-pull"
    PUSH = "push"
    PULL = "pull"
    DISABLED = "disabled"

    def label(self, crm: str) -> str:
        """The page's words for this direction, e.g. "Push to HubSpot"."""
        return {
            ObjectDirection.PUSH_PULL: "Push & Pull",
            ObjectDirection.PUSH: f"Push to {crm}",
            ObjectDirection.PULL: f"Pull from {crm}",
            ObjectDirection.DISABLED: "Disabled",
        }[self]


class FieldDirection(StrEnum):
    """A field mapping's own direction (item 8)."""

    PUSH = "push"
    PULL = "pull"
    BOTH = "both"


class Effective(StrEnum):
    """What actually happens to a field once the whole hierarchy has spoken."""

    BOTH = "both"
    PUSH = "push"
    PULL = "pull"
    NONE = "none"

    @property
    def pushes(self) -> bool:
        return self in (Effective.BOTH, Effective.PUSH)

    @property
    def pulls(self) -> bool:
        return self in (Effective.BOTH, Effective.PULL)


def effective_direction(
    enabled: bool, object_direction: ObjectDirection | str, field_direction: FieldDirection | str
) -> Effective:
    """The direction a field really syncs in: global toggle > object direction > field mapping.

    A paused integration or a disabled object syncs nothing. An object set to push (pull) only
    lets a field push (pull) only, whatever its mapping says; a field mapped the other way only
    does not sync at all.
    """
    obj, fld = ObjectDirection(object_direction), FieldDirection(field_direction)
    if skip_reason(enabled, obj):
        return Effective.NONE
    wants_push = fld in (FieldDirection.PUSH, FieldDirection.BOTH)
    wants_pull = fld in (FieldDirection.PULL, FieldDirection.BOTH)
    push = wants_push and obj in (ObjectDirection.PUSH_PULL, ObjectDirection.PUSH)
    pull = wants_pull and obj in (ObjectDirection.PUSH_PULL, ObjectDirection.PULL)
    if push and pull:
        return Effective.BOTH
    if push:
        return Effective.PUSH
    return Effective.PULL if pull else Effective.NONE


def skip_reason(enabled: bool, object_direction: ObjectDirection | str) -> str | None:
    """Why an object does not run at all: "skipped" (the integration is paused), "disabled", or None."""
    if not enabled:
        return "skipped"
    return "disabled" if ObjectDirection(object_direction) is ObjectDirection.DISABLED else None


_OBJECT_LIMITS = {
    ObjectDirection.DISABLED: "the object is disabled",
    ObjectDirection.PUSH: "the object is push only",
    ObjectDirection.PULL: "the object is pull only",
}


def why_overridden(
    enabled: bool, object_direction: ObjectDirection | str, field_direction: FieldDirection | str
) -> str | None:
    """Why a field's effective direction differs from its mapped one (None when it does not).

    It names the highest level of the hierarchy that overrides the field, in the page's words.
    """
    obj, fld = ObjectDirection(object_direction), FieldDirection(field_direction)
    if effective_direction(enabled, obj, fld).value == fld.value:
        return None
    return "the integration is paused" if not enabled else _OBJECT_LIMITS[obj]


def deciding_level(
    enabled: bool, object_direction: ObjectDirection | str, field_direction: FieldDirection | str
) -> str:
    """Which level of the hierarchy decided a field's effective direction: the highest that overrides it."""
    if why_overridden(enabled, object_direction, field_direction) is None:
        return "field mapping"
    return "global toggle" if skip_reason(enabled, "push-pull") else "object direction"


# --- pull schedule (item 5) -------------------------------------------------------------

SCHEDULES: dict[str, int | None] = {"manual": None, "5m": 5, "10m": 10, "15m": 15, "30m": 30, "60m": 60}


def schedule_label(schedule: str) -> str:
    """The page's words for a pull schedule."""
    minutes = SCHEDULES[schedule]
    return "Manual only" if minutes is None else f"Every {minutes} minutes"


def next_pull_at(schedule: str, enabled: bool, reference: datetime) -> datetime | None:
    """When the next scheduled pull runs, counting from ``reference``; none if manual or paused."""
    minutes = SCHEDULES[schedule]
    if minutes is None or not enabled:
        return None
    return reference + timedelta(minutes=minutes)


# --- integration names -------------------------------------------------------------------

# A name becomes a file name, a Prefect deployment name and an artifact key: a short slug only.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def check_name(name: str) -> str:
    """The integration name itself if it is a slug; else a one-line ConfigError saying what is allowed."""
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        return name
    raise ConfigError(
        f"integration name {name!r} is not allowed: use 1 to 40 lowercase letters, digits and '-', "
        "starting with a letter or digit (e.g. salesforce-eu)"
    )


# --- kinds of integration (item 1 and 3) --------------------------------------------------

CS_OBJECTS: tuple[str, ...] = ("clients", "contacts", "subscriptions")  # also the dependency order


# The kinds of CRM, their display names and external objects: the connector registry itself.
KINDS = _registry.KINDS
Kind = _registry.ConnectorSpec  # the old name of a registry entry
