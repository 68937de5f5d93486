"""The store's tables: ClientSuccess objects, and the sync state of each integration.

All timestamps are UTC. SQLite has no time zones, so ``UTCDateTime`` stores naive UTC and
gives back aware UTC datetimes on every backend.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored as naive UTC and read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: crmsync stores UTC-aware timestamps only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _updated() -> Any:
    # onupdate keeps updated_at true for ORM and Core UPDATEs that don't set it themselves.
    return Field(
        default_factory=utcnow,
        sa_column_kwargs={"onupdate": utcnow},
        sa_type=UTCDateTime,
        nullable=False,
        index=True,
    )


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# --- ClientSuccess objects --------------------------------------------------------------


class Client(SQLModel, table=True):
    __tablename__ = "clients"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(nullable=False, max_length=255)
    domain: str | None = Field(default=None, max_length=255, index=True)
    status: str | None = Field(default=None, max_length=20)  # Active, Trial, Inactive, Terminated
    success_manager: str | None = Field(default=None, max_length=255)
    industry: str | None = Field(default=None, max_length=255)
    employees: int | None = None
    annual_revenue: Decimal | None = Field(default=None, max_digits=18, decimal_places=2)
    phone: str | None = Field(default=None, max_length=64)
    custom: dict[str, Any] = _json()
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int | None = Field(default=None, foreign_key="clients.id", index=True)
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=255)
    custom: dict[str, Any] = _json()
    created_at: datetime = _created()
    updated_at: datetime = _updated()


def non_ascii(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[bool]:
    """True where the text has a non-ASCII character: more bytes than characters."""
    if dialect == "sqlite":
        return sa.func.length(sa.cast(column, sa.LargeBinary)) != sa.func.length(column)
    return sa.func.octet_length(column) != sa.func.length(column)


def _match_key_indexes(table: sa.Table, column: str) -> tuple[sa.Index, sa.Index]:
    """A default match field's indexes (``crmsync.store.records.match_keys``): the column
    lower-cased (ASCII keys), and the few rows with a non-ASCII character (casefolded in Python)."""
    stored = table.c[column]
    where = {f"{d}_where": non_ascii(stored, d) for d in ("sqlite", "postgresql")}
    return (
        sa.Index(f"ix_{table.name}_{column}_folded", sa.func.lower(stored)),
        sa.Index(f"ix_{table.name}_{column}_non_ascii", table.c.id, **where),
    )


MATCH_KEY_INDEXES = (
    *_match_key_indexes(Client.__table__, "domain"),
    *_match_key_indexes(Contact.__table__, "email"),
)


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int | None = Field(default=None, foreign_key="clients.id", index=True)
    name: str | None = Field(default=None, max_length=255)
    product: str | None = Field(default=None, max_length=255)
    amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=2)
    start_date: date | None = None
    end_date: date | None = None
    status: str | None = Field(default=None, max_length=64)
    custom: dict[str, Any] = _json()
    created_at: datetime = _created()
    updated_at: datetime = _updated()


CS_MODELS: dict[str, type[SQLModel]] = {
    "clients": Client,
    "contacts": Contact,
    "subscriptions": Subscription,
}


# --- integration settings and sync state -------------------------------------------------

_INTEGRATION_FK = {"foreign_key": "integrations.name", "ondelete": "CASCADE"}


class Integration(SQLModel, table=True):
    __tablename__ = "integrations"

    name: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)  # hubspot, salesforce
    header: str = Field(max_length=255)
    enabled: bool = True  # the global toggle
    schedule: str = Field(default="manual", max_length=16)
    latest_pull_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_pull_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    account: str | None = Field(default=None, max_length=255)  # the CRM account: kind and URL, no secret
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class DeletedIntegration(SQLModel, table=True):
    """A tombstone: an integration deleted through crmsync, whose deployments ``deploy`` may remove."""

    __tablename__ = "deleted_integrations"

    name: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    deleted_at: datetime = _created()


class ObjectSetting(SQLModel, table=True):
    __tablename__ = "object_settings"

    integration: str = Field(primary_key=True, max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(primary_key=True, max_length=32)
    external_object: str = Field(max_length=64)
    direction: str = Field(default="push-pull", max_length=16)
    updated_at: datetime = _updated()


class RecordLink(SQLModel, table=True):
    """A ClientSuccess record linked to its external record, with the values last synced."""

    __tablename__ = "record_links"
    __table_args__ = (
        sa.UniqueConstraint("integration", "cs_object", "cs_id", name="uq_link_cs"),
        # Two CS objects may point at the same external object (clients and subscriptions from deals).
        sa.UniqueConstraint(
            "integration", "cs_object", "external_object", "external_id", name="uq_link_external"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    integration: str = Field(max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(max_length=32)
    cs_id: int
    external_object: str = Field(max_length=64)
    external_id: str = Field(max_length=64)
    synced_values: dict[str, Any] = _json()  # the base of three-way merges, by CS field
    synced_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    external_deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A child pulled before its parent was linked keeps the parent's CRM id here until it is.
    parent_external_id: str | None = Field(default=None, max_length=64)


class SyncCursor(SQLModel, table=True):
    """How far a direction of an object has been synced: timestamp, then id as tie-breaker."""

    __tablename__ = "sync_cursors"

    integration: str = Field(primary_key=True, max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(primary_key=True, max_length=32)
    external_object: str = Field(primary_key=True, max_length=64)
    direction: str = Field(primary_key=True, max_length=8)  # pull, push, deleted
    position_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    position_id: str = Field(default="", max_length=64)
    updated_at: datetime = _updated()


class QuarantineRecord(SQLModel, table=True):
    """A record that failed a rule, kept raw so it can be replayed."""

    __tablename__ = "quarantine"
    __table_args__ = (
        sa.UniqueConstraint(
            "integration", "cs_object", "direction", "record_key", name="uq_quarantine_record"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    integration: str = Field(max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(max_length=32)
    direction: str = Field(max_length=8)  # pull or push
    record_key: str = Field(max_length=64)  # external id (pull) or CS id (push)
    raw: dict[str, Any] = _json()
    reason: str
    rule: str = Field(max_length=128)
    run_id: str | None = Field(default=None, max_length=64)
    first_seen_at: datetime = _created()
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    replayed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a replay asked: retry from then


class Conflict(SQLModel, table=True):
    """A two-way field changed on both sides since the last sync, and how it was resolved."""

    __tablename__ = "conflicts"

    id: int | None = Field(default=None, primary_key=True)
    integration: str = Field(max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(max_length=32)
    cs_id: int
    external_id: str = Field(max_length=64)
    field_name: str = Field(max_length=128)
    base_value: Any = Field(default=None, sa_column=Column(JSON))
    cs_value: Any = Field(default=None, sa_column=Column(JSON))
    external_value: Any = Field(default=None, sa_column=Column(JSON))
    policy: str = Field(max_length=16)
    winner: str = Field(max_length=16)  # cs or external
    run_id: str | None = Field(default=None, max_length=64)
    detected_at: datetime = _created()


class SyncRun(SQLModel, table=True):
    """One run of one integration × object, with its counts."""

    __tablename__ = "sync_runs"

    id: str = Field(primary_key=True, max_length=64)
    integration: str = Field(max_length=64, index=True, **_INTEGRATION_FK)
    cs_object: str = Field(max_length=32)
    mode: str = Field(default="sync", max_length=16)  # sync, backfill, preview
    status: str = Field(default="running", max_length=16)  # running, completed, failed, skipped
    started_at: datetime = _created()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    counts: dict[str, int] = _json()
    message: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=64)


class BackfillWindow(SQLModel, table=True):
    """One completed window of a backfill: a re-run of the same backfill skips it."""

    __tablename__ = "backfill_windows"

    integration: str = Field(primary_key=True, max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(primary_key=True, max_length=32)
    start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    end: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    completed_at: datetime = _created()


class RecordEvent(SQLModel, table=True):
    """One thing a run did to one record: the per-record history that ``crmsync explain`` reads."""

    __tablename__ = "record_events"
    __table_args__ = (
        sa.Index("ix_record_events_cs", "integration", "cs_object", "cs_id"),
        sa.Index("ix_record_events_external", "integration", "cs_object", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, max_length=64)
    integration: str = Field(max_length=64, **_INTEGRATION_FK)
    cs_object: str = Field(max_length=32)
    cs_id: int | None = None
    external_id: str | None = Field(default=None, max_length=64)
    direction: str = Field(max_length=8)  # pull or push
    action: str = Field(max_length=16)  # created, updated, conflict, quarantined, replayed
    values: dict[str, Any] = _json()
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class RunLock(SQLModel, table=True):
    """Who is running one integration × object now: one writer at a time (see crmsync.store.locks)."""

    __tablename__ = "run_locks"

    lock_key: str = Field(primary_key=True, max_length=128)  # "<integration>:<cs_object>"
    run_id: str = Field(max_length=64)
    pid: int
    host: str = Field(max_length=255)
    acquired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
