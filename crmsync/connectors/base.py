"""The one connector interface that flows and tasks know; each CRM implements it on its official SDK."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from crmsync.errors import CrmsyncError


class ConnectorError(CrmsyncError):
    """A failure talking to a CRM, with a one-line reason that never contains a secret."""


class AuthError(ConnectorError):
    """The CRM refused the credentials."""


class Rejected(ConnectorError):
    """The CRM refused a whole request (a 4xx other than auth and rate limits): retrying cannot help."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in an object's change stream: last-modified time, then id as tie-breaker.

    ``modified_at=None`` means "from the beginning". Reads return records strictly after
    (modified_at, id) in that order.
    """

    modified_at: datetime | None = None
    id: str = ""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of an external object, as the CRM describes it."""

    name: str
    label: str
    type: str  # string, number, date, datetime, bool, enumeration
    options: tuple[str, ...] = ()  # exact-case enumeration / picklist values
    unique: bool = False
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class ExternalRecord:
    """One record read from a CRM: its id, last-modified time (UTC) and raw field values."""

    id: str
    modified_at: datetime
    values: dict[str, Any]
    deleted: bool = False  # a CRM whose change stream carries deletions marks them here


@dataclass(frozen=True, slots=True)
class DeletedRecord:
    """A record the CRM archived (HubSpot) or soft-deleted (Salesforce)."""

    id: str
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a change read, and the cursor just past its last record."""

    records: list[ExternalRecord]
    cursor: Cursor


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One record to write.

    ``key`` is the ClientSuccess id, written into the CRM's unique external-id field so that a
    retried create updates instead of duplicating. ``external_id`` is set when the record is
    already linked: the write is then an update of that record. ``parent_id`` is the external
    id of the parent (HubSpot company / Salesforce AccountId) to associate, if any.
    """

    key: str
    values: dict[str, Any]
    external_id: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The CRM's answer for one record of a batch write."""

    key: str
    ok: bool
    external_id: str | None = None
    created: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """What the pipeline needs from a CRM. Object names are the CRM's own (companies, Account)."""

    kind: str
    # How often the deletion sweep runs (None: every run). A CRM whose deleted records cannot be
    # listed by date (HubSpot's archive) pages through all of them, so it is swept less often.
    deletion_sweep_every: timedelta | None
    # True when read_changed also returns deleted records (marked ``deleted``): no separate sweep.
    deletions_in_changes: bool

    def check(self) -> str:
        """Verify credentials with one cheap call; return a short description of the account."""

    def describe(self, obj: str) -> list[FieldInfo]:
        """The object's fields, with enumeration options in their exact case."""

    def read_changed(
        self, obj: str, fields: Sequence[str], since: Cursor, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of records modified after ``since`` (and not after ``until``), oldest first."""

    def read_deleted(self, obj: str, since: datetime | None) -> Iterator[list[DeletedRecord]]:
        """Batches of records archived or deleted since ``since``."""

    def read_parents(self, obj: str, records: Sequence[ExternalRecord]) -> dict[str, str]:
        """Map child id -> parent id (contact/deal -> company, Contact/Opportunity -> Account)."""

    def write(self, obj: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Create or update these records in as few calls as the API allows; one result each."""
