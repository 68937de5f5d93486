"""The sync's units of work as the store sees them: a scope, and what one chunk commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PARENT_SYNCED = "_parent"  # a link's synced values keep the CS parent id last synced under this key
MODIFIED_SYNCED = "_modified"  # ... and the CRM's modified time (µs since 1970) of the version pulled


@dataclass(frozen=True)
class Scope:
    """One integration × CS object × external object: what links and cursors belong to."""

    integration: str
    cs_object: str
    external_object: str


@dataclass
class PullBatch:
    """Everything one pulled chunk writes, in one transaction."""

    creates: list[dict[str, Any]] = field(default_factory=list)  # CS values; "_link" holds the link fields
    updates: list[dict[str, Any]] = field(default_factory=list)  # {"id": cs_id, field: value, ...}
    new_links: list[dict[str, Any]] = field(default_factory=list)
    # {"cs_id", "external_id", "synced_values", "parent_external_id"}
    link_updates: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # record_key, raw, reason, rule
    loaded_keys: list[str] = field(default_factory=list)  # quarantined earlier, loaded now: replayed
    deleted: list[str] = field(default_factory=list)  # linked CRM records the CRM deleted
    delete_policy: str = "unlink"  # the mapping's on_delete for them: unlink, flag or ignore
    cursor: tuple[datetime, str] | None = None


@dataclass
class PushBatch:
    """Everything one pushed chunk writes back, in one transaction."""

    new_links: list[dict[str, Any]] = field(default_factory=list)
    link_updates: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    loaded_keys: list[str] = field(default_factory=list)
    cursor: tuple[datetime, str] | None = None
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # CS id -> the values written
