"""Pull decisions on a real store, with CRM pages given as data (no CRM, no Prefect)."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import select

from crmsync import page
from crmsync.connectors.base import Cursor, ExternalRecord, Page
from crmsync.errors import ConfigError
from crmsync.mapping.compile import EXTERNAL_ID
from crmsync.models import Client, Contact, RecordLink, Subscription
from crmsync.store import Store
from crmsync.sync import pull
from crmsync.sync.context import open_context
from crmsync.validation import validate

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _page(*records: tuple[str, dict], at: datetime = T0) -> Page:
    recs = [ExternalRecord(rid, at + timedelta(seconds=i), values) for i, (rid, values) in enumerate(records)]
    return Page(recs, Cursor(recs[-1].modified_at, recs[-1].id))


def _load(store: Store, cs_object: str, pages: list[Page]) -> pull.PullCounts:
    ctx = open_context(store, "hubspot", cs_object)
    chunk = pull.PullChunk(
        pull.records_frame([r for p in pages for r in p.records], ctx.plan.read_fields()), {}, None
    )
    rows = pull.transform(ctx.plan, chunk)
    checked = validate(rows, cs_object, "pull")
    batch, counts = pull.decide_pull(store, ctx.plan, chunk, checked.valid, checked.failures)
    store.state.apply_pull(ctx.scope, batch, "run")
    return counts


@pytest.fixture
def store(crmsync_home) -> Store:
    store = Store()
    page.connect(store, "hubspot")
    return store


def test_a_crm_only_change_to_a_date_or_amount_is_an_update_not_a_conflict(store):
    with store.session() as s:
        client = Client(name="Acme")
        s.add(client)
        s.flush()
        sub = Subscription(
            client_id=client.id, name="Pro", amount=Decimal("19.99"), end_date=date(2026, 1, 31)
        )
        s.add(sub)
        s.flush()
        s.add(
            RecordLink(
                integration="hubspot",
                cs_object="subscriptions",
                cs_id=sub.id,
                external_object="deals",
                external_id="D1",
                synced_values={"name": "Pro", "amount": 19.99, "end_date": "2026-01-31"},
            )
        )
    counts = _load(
        store,
        "subscriptions",
        [_page(("D1", {"dealname": "Pro", "amount": "29.99", "closedate": "2026-03-31", "dealstage": None}))],
    )
    assert (counts.updated, counts.conflicts) == (1, 0)
    with store.session() as s:
        sub = s.get(Subscription, sub.id)
    assert (sub.amount, sub.end_date) == (Decimal("29.99"), date(2026, 3, 31))


def test_a_linked_record_deleted_in_clientsuccess_is_quarantined_not_crashed(store):
    with store.session() as s:
        s.add(
            RecordLink(
                integration="hubspot",
                cs_object="clients",
                cs_id=999,
                external_object="companies",
                external_id="C9",
                synced_values={"name": "Gone"},
            )
        )
    counts = _load(store, "clients", [_page(("C9", {"name": "Gone Inc", "domain": "gone.example.com"}))])
    assert (counts.quarantined, counts.updated, counts.created) == (1, 0, 0)
    [row] = store.state.quarantine_rows("hubspot")
    assert row.rule == "cs_record_missing"
    assert "clients 999" in row.reason


def test_the_stream_cuts_bounded_chunks_and_keeps_the_newest_copy_of_a_record():
    big = _page(*[(f"R{i}", {"name": f"n{i}"}) for i in range(5)])
    since = Cursor(T0 - timedelta(days=1), "")
    bulk_like = Page(big.records, since)  # a Bulk page that does not move the cursor
    last = _page(("R1", {"name": "R1 edited"}), at=T0 + timedelta(hours=1))
    stream = pull.ChangeStream(iter([bulk_like, last]), size=3)
    first, cursor = stream.take()
    assert [r.id for r in first] == ["R0", "R1", "R2"]
    assert cursor is None  # ended inside a page: nothing safe to commit yet
    second, cursor = stream.take()
    assert [r.id for r in second] == ["R3", "R4", "R1"]
    assert cursor == (last.cursor.modified_at, "R1")
    assert stream.take() == ([], None)
    assert stream.exhausted

    class Connector:
        def read_parents(self, obj, records):
            return {}

    plan = pull_plan()
    chunk = pull.extract_chunk(Connector(), plan, pull.ChangeStream(iter([big, last])))
    assert chunk.frame[EXTERNAL_ID].tolist() == ["R0", "R2", "R3", "R4", "R1"]
    assert chunk.frame.loc[chunk.frame[EXTERNAL_ID] == "R1", "name"].item() == "R1 edited"


def pull_plan():
    from crmsync.config import DEFAULT_MAPPINGS_DIR
    from crmsync.mapping.spec import load_mapping
    from crmsync.sync.plan import build_plan

    mapping = load_mapping(DEFAULT_MAPPINGS_DIR / "hubspot.yaml").for_object("clients", "companies")
    return build_plan("hubspot", "HubSpot", True, "push-pull", mapping, None)


def test_an_unreadable_crm_value_is_quarantined_not_cleared(store):
    counts = _load(
        store,
        "clients",
        [
            _page(
                ("C1", {"name": "Acme", "numberofemployees": "many"}),
                ("C2", {"name": "Beta", "numberofemployees": "7"}),
            )
        ],
    )
    assert (counts.created, counts.quarantined) == (1, 1)
    [row] = store.state.quarantine_rows("hubspot")
    assert (row.record_key, row.rule) == ("C1", "crm_value_type")
    assert row.reason == "numberofemployees 'many' is not a valid int for employees"


def test_two_objects_may_not_both_push_into_one_crm_object(store):
    store.settings.point_object("hubspot", "clients", "deals")  # clients and subscriptions both on deals
    mapping = store.settings.object_setting("hubspot", "clients")
    assert mapping.external_object == "deals"
    ctx = open_context(store, "hubspot", "subscriptions")  # clients <- deals only pulls: fine
    assert ctx.plan.key_field is None  # a deal's clientsuccess_id no longer says which object it is
    path = store_mapping_path()
    text = path.read_text().replace(
        "      - {cs: name, external: dealname, direction: pull}",
        "      - {cs: name, external: dealname, direction: both}",
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match="clients and subscriptions both push to deals"):
        open_context(store, "hubspot", "clients")


def store_mapping_path():
    from crmsync import config

    return config.mapping_path("hubspot")


def test_records_identical_to_the_last_sync_stop_before_validation(store):
    first = _page(
        ("C1", {"name": "Acme", "domain": "acme.com"}), ("C2", {"name": "Beta", "domain": "beta.com"})
    )
    assert _load(store, "clients", [first]).created == 2
    ctx = open_context(store, "hubspot", "clients")
    again = _page(
        ("C1", {"name": "Acme", "domain": "acme.com"}), ("C2", {"name": "Beta 2", "domain": "beta.com"})
    )
    chunk = pull.PullChunk(pull.records_frame(again.records, ctx.plan.read_fields()), {}, None)
    rows = pull.drop_unchanged(store, ctx.plan, chunk, pull.transform(ctx.plan, chunk))
    assert chunk.frame.loc[rows.index, EXTERNAL_ID].tolist() == ["C2"]
    _, counts = pull.decide_pull(store, ctx.plan, chunk, rows, rows.iloc[0:0].assign(rule="", reason=""))
    assert (counts.extracted, counts.unchanged, counts.updated) == (2, 1, 1)


def test_a_contact_matches_its_email_whatever_the_unicode_case(store):
    with store.session() as s:
        contact = Contact(first_name="Anna", email="ÜMLAUT@example.org")
        s.add(contact)
    counts = _load(store, "contacts", [_page(("C1", {"email": "ümlaut@example.org", "firstname": "Anna"}))])
    assert counts.created == 0
    with store.session() as s:
        links = s.exec(select(RecordLink)).all()
        assert [(link.cs_id, link.external_id) for link in links] == [(contact.id, "C1")]
        assert len(s.exec(select(Contact)).all()) == 1


def test_a_version_stamp_is_the_same_integer_with_or_without_pandas():
    """Seen versions are checked in plain Python (a quiet run imports no pandas); links were
    stamped through pandas: both must give the same µs for any CRM time, aware or naive."""
    import pandas as pd

    moments = [
        datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 1, 12, 30),  # naive: UTC
        datetime(1960, 1, 1, tzinfo=UTC),  # before 1970
    ]
    stamps = pull.version_stamps(pd.Series(pd.to_datetime(moments, utc=True)))
    assert [pull.version_stamp(m) for m in moments] == stamps
    assert pull.version_stamp(moments[2]) == pull.version_stamp(moments[0].replace(microsecond=0, second=0))
