"""The store on SQLite and PostgreSQL: schema, settings, isolation between integrations, delete."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from crmsync.models import (
    Client,
    Conflict,
    Integration,
    ObjectSetting,
    QuarantineRecord,
    RecordLink,
    SyncCursor,
    SyncRun,
)
from crmsync.store import HEAD_REVISION, Store, StoreError, UnknownName, migrate

POINTING = {"clients": "companies", "contacts": "contacts", "subscriptions": "deals"}
SF_POINTING = {"clients": "Account", "contacts": "Contact", "subscriptions": "Opportunity"}


def _settings(store: Store, name: str) -> tuple:
    row = store.settings.integration(name)
    objects = [(o.cs_object, o.external_object, o.direction) for o in store.settings.object_settings(name)]
    return (row.enabled, row.schedule, row.next_pull_at, row.latest_pull_at, objects)


def _own_rows(store: Store, name: str) -> dict[str, int]:
    with store.session() as s:
        return {
            table.__tablename__: len(list(s.exec(select(table).where(table.integration == name))))
            for table in (ObjectSetting, RecordLink, SyncCursor, QuarantineRecord, Conflict, SyncRun)
        }


def _add_sync_state(store: Store, name: str, external_object: str) -> None:
    with store.session() as s:
        client = Client(name=f"client of {name}")
        s.add(client)
        s.flush()
        s.add(
            RecordLink(
                integration=name,
                cs_object="clients",
                cs_id=client.id,
                external_object=external_object,
                external_id="1",
                synced_values={"name": "x"},
            )
        )
        s.add(
            SyncCursor(
                integration=name,
                cs_object="clients",
                external_object=external_object,
                direction="pull",
                position_at=datetime.now(UTC),
                position_id="1",
            )
        )
        s.add(
            QuarantineRecord(
                integration=name,
                cs_object="clients",
                direction="pull",
                record_key="2",
                raw={"name": None},
                reason="name is required",
                rule="not_null",
            )
        )
        s.add(
            Conflict(
                integration=name,
                cs_object="clients",
                cs_id=client.id,
                external_id="1",
                field_name="status",
                base_value="Trial",
                cs_value="Active",
                external_value="Inactive",
                policy="newest",
                winner="cs",
            )
        )
        s.add(SyncRun(id=f"run-{name}", integration=name, cs_object="clients", counts={"created": 1}))


def test_connect_records_integration_and_objects(any_store):
    any_store.settings.connect("hubspot", None, POINTING)
    row = any_store.settings.integration("hubspot")
    assert (row.kind, row.header, row.enabled, row.schedule) == ("hubspot", "HubSpot", True, "manual")
    assert row.latest_pull_at is None and row.next_pull_at is None
    objects = any_store.settings.object_settings("hubspot")
    assert [(o.cs_object, o.external_object, o.direction) for o in objects] == [
        ("clients", "companies", "push-pull"),
        ("contacts", "contacts", "push-pull"),
        ("subscriptions", "deals", "push-pull"),
    ]


def test_several_integrations_of_one_kind(any_store):
    any_store.settings.connect("salesforce", None, SF_POINTING)
    any_store.settings.connect("salesforce", "salesforce-eu", SF_POINTING)
    assert [i.name for i in any_store.settings.integrations()] == ["salesforce", "salesforce-eu"]
    with pytest.raises(StoreError, match="already connected"):
        any_store.settings.connect("salesforce", "salesforce-eu", SF_POINTING)


def test_settings_change_only_their_integration(any_store):
    any_store.settings.connect("hubspot", None, POINTING)
    any_store.settings.connect("salesforce", None, SF_POINTING)
    before = _settings(any_store, "salesforce")
    any_store.settings.set_enabled("hubspot", False)
    any_store.settings.set_schedule("hubspot", "15m")
    any_store.settings.set_direction("hubspot", "contacts", "pull")
    any_store.settings.point_object("hubspot", "clients", "deals")
    any_store.settings.record_pull("hubspot", datetime.now(UTC))
    assert _settings(any_store, "salesforce") == before
    enabled, schedule, next_pull, latest, objects = _settings(any_store, "hubspot")
    assert (enabled, schedule, next_pull) == (False, "15m", None)  # paused: no next pull
    assert latest is not None
    assert objects[0] == ("clients", "deals", "push-pull")
    assert objects[1] == ("contacts", "contacts", "pull")


def test_schedule_and_pulls_keep_next_pull_true(any_store):
    any_store.settings.connect("hubspot", None, POINTING)
    any_store.settings.set_schedule("hubspot", "30m")
    finished = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    row = any_store.settings.record_pull("hubspot", finished)
    assert row.latest_pull_at == finished
    assert any_store.settings.integration("hubspot").next_pull_at == finished + timedelta(minutes=30)
    any_store.settings.set_schedule("hubspot", "manual")
    assert any_store.settings.integration("hubspot").next_pull_at is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.integration("nope"), "unknown integration 'nope' (connected: hubspot)"),
        (lambda s: s.set_schedule("hubspot", "7m"), "valid: manual, 5m, 10m, 15m, 30m, 60m"),
        (
            lambda s: s.set_direction("hubspot", "clients", "sideways"),
            "valid: push-pull, push, pull, disabled",
        ),
        (lambda s: s.set_direction("hubspot", "deals", "pull"), "valid: clients, contacts, subscriptions"),
        (lambda s: s.point_object("hubspot", "clients", "tickets"), "valid: companies, contacts, deals"),
        (lambda s: s.connect("pipedrive", None, {}), "valid: hubspot, salesforce"),
    ],
)
def test_unknown_names_list_the_valid_ones(any_store, call, message):
    any_store.settings.connect("hubspot", None, POINTING)
    with pytest.raises(UnknownName) as err:
        call(any_store.settings)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_delete_removes_everything_of_one_integration_only(any_store):
    any_store.settings.connect("hubspot", None, POINTING)
    any_store.settings.connect("salesforce", None, SF_POINTING)
    _add_sync_state(any_store, "hubspot", "companies")
    _add_sync_state(any_store, "salesforce", "Account")
    salesforce_before = (_own_rows(any_store, "salesforce"), _settings(any_store, "salesforce"))
    assert all(_own_rows(any_store, "hubspot").values())

    any_store.settings.delete_integration("hubspot")

    assert [i.name for i in any_store.settings.integrations()] == ["salesforce"]
    assert set(_own_rows(any_store, "hubspot").values()) == {0}
    assert (_own_rows(any_store, "salesforce"), _settings(any_store, "salesforce")) == salesforce_before
    with any_store.session() as s:  # ClientSuccess data is never deleted with an integration
        assert len(list(s.exec(select(Client)))) == 2


def test_updated_at_is_maintained_and_timestamps_are_utc(any_store):
    with any_store.session() as s:
        client = Client(name="Acme", status="Active", custom={"tier": "gold"})
        s.add(client)
    created = client.updated_at
    assert created.tzinfo is UTC
    with any_store.session() as s:  # a Core UPDATE that does not name updated_at still bumps it
        s.exec(sa.update(Client).where(Client.id == client.id).values(status="Trial"))
    with any_store.session() as s:
        again = s.get(Client, client.id)
    assert again.updated_at > created
    assert again.updated_at.tzinfo is UTC
    assert again.custom == {"tier": "gold"}


def test_naive_timestamps_are_refused(any_store):
    with pytest.raises(sa.exc.StatementError, match="UTC-aware"), any_store.session() as s:
        s.add(Client(name="Acme", created_at=datetime(2026, 1, 1)))  # naive on purpose


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_match_the_models(any_store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_migrate_is_idempotent(any_store):
    migrate(any_store.engine)
    with Session(any_store.engine) as s:
        assert s.exec(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    assert any_store.settings.integrations() == []


def test_unreachable_database_is_one_line(tmp_path):
    with pytest.raises(StoreError) as err:
        Store("postgresql+psycopg://nobody:sekret@127.0.0.1:1/none")
    message = str(err.value)
    assert message.startswith("cannot open the database postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "sekret" not in message and "\n" not in message


def test_integration_rows_are_plain(any_store):
    any_store.settings.connect("hubspot", "hubspot-emea", POINTING)
    assert isinstance(any_store.settings.integration("hubspot-emea"), Integration)
