"""What a run counts, object by object: pulled and pushed records by outcome."""

from __future__ import annotations

from dataclasses import dataclass, fields


class Counts:
    """Counters of a run that add up chunk by chunk (every field is an int)."""

    def add(self, other: Counts) -> None:
        """Add ``other``'s counters to these."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass
class PullCounts(Counts):
    """Records pulled from the CRM, by what happened to them."""

    extracted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    conflicts: int = 0
    parked: int = 0  # children whose parent is not linked yet
    deleted: int = 0


@dataclass
class PushCounts(Counts):
    """ClientSuccess records considered for a push, by what happened to them."""

    considered: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0

    @property
    def pushed(self) -> int:
        """Records written to the CRM."""
        return self.created + self.updated
