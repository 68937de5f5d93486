"""Read-only views of the store and the connector: what a sync preview runs on.

Every read passes through; any write raises ``PreviewWriteError``, so a preview cannot write
by accident, even through a step that forgot it was previewing.
"""

from __future__ import annotations

from typing import Any

from crmsync.errors import CrmsyncError

STATE_READS = frozenset(
    {
        "cursor",
        "cursor_written_at",
        "links_by_external",
        "links_by_cs",
        "live_cs_ids",
        "pending_parents",
        "quarantined_keys",
        "quarantine_rows",
        "due_keys",
        "held_back",
    }
)
RECORD_READS = frozenset({"cs_frame", "match_keys", "unlinked_ids", "changed_records"})
SETTING_READS = frozenset({"integrations", "integration", "object_settings", "object_setting"})
CONNECTOR_READS = frozenset(
    {"kind", "check", "describe", "read_changed", "read_deleted", "read_parents", "read_by_ids"}
)


class PreviewWriteError(CrmsyncError):
    """Something tried to write during a sync preview."""


class _ReadOnly:
    """Passes the allowed attributes of ``target`` through; anything else raises."""

    def __init__(self, target: Any, allowed: frozenset[str], what: str) -> None:
        self._target, self._allowed, self._what = target, allowed, what

    def __getattr__(self, name: str) -> Any:
        if name in self._allowed:
            return getattr(self._target, name)
        raise PreviewWriteError(f"a sync preview writes nothing: {self._what}.{name} is not allowed")


class ReadOnlyStore:
    """A store whose settings, state and records can be read but not written."""

    def __init__(self, store: Any) -> None:
        self.engine = None  # no raw engine: every access goes through a read-only part
        self.settings = _ReadOnly(store.settings, SETTING_READS, "store.settings")
        self.state = _ReadOnly(store.state, STATE_READS, "store.state")
        self.records = _ReadOnly(store.records, RECORD_READS, "store.records")

    def session(self) -> Any:
        raise PreviewWriteError("a sync preview writes nothing: store.session is not allowed")


def read_only_connector(connector: Any) -> Any:
    """The connector with ``write`` (and anything else not a read) refused."""
    return _ReadOnly(connector, CONNECTOR_READS, "connector")
