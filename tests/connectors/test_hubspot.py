"""The HubSpot connector, through the real SDK over real HTTP to the sandbox; call counts are exact."""

from __future__ import annotations

import logging
import math
import operator
import pickle
import random
import time
from collections.abc import Callable

import pytest

from crmsync.connectors.base import AuthError, Connector, ConnectorError, Cursor, Page, WriteRequest
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.connectors.hubspot.changes import ChangeReader, Hit, from_ms, id_key
from crmsync.sandbox import seed
from crmsync.sandbox.http import Running
from tests.fixtures.hubspot import FAST_RETRIES

Factory = Callable[..., Running]
Connect = Callable[..., HubSpotConnector]
BLOCK = range(seed.SHARED_TIMESTAMP_START, seed.SHARED_TIMESTAMP_START + seed.SHARED_TIMESTAMP_BLOCK)


FROM_START = Cursor()
FIELDS = {"companies": ["name"], "contacts": ["email"], "deals": ["dealname"]}


def read(
    connector: HubSpotConnector, obj: str = "companies", since: Cursor = FROM_START, **kwargs
) -> list[Page]:
    return list(connector.read_changed(obj, FIELDS[obj], since, **kwargs))


def ids(pages: list[Page]) -> list[str]:
    return [r.id for p in pages for r in p.records]


def company_id(index: int) -> str:
    return str(20_000_000_001 + index)


def keyset_pages(total: int, size: int = 200) -> int:
    """Searches for ``total`` records on distinct timestamps: the first page gives 200 new ones, each
    later page restarts at the last timestamp seen and so re-reads one record: 199 new."""
    return 1 + math.ceil(max(0, total - size) / (size - 1))


# Seeded records 150..649 share one timestamp. A pull from the start costs: 1 page (0..199), 1 page
# that is all on that timestamp, 3 pages reading its 500 records by id, then the rest, keyset-paged.
BLOCK_SEARCHES = 1 + 1 + 3


# --- credentials and errors -------------------------------------------------------------------
def test_connector_satisfies_the_interface(hubspot_connector: HubSpotConnector) -> None:
    assert isinstance(hubspot_connector, Connector)
    assert hubspot_connector.kind == "hubspot"


def test_check_is_one_cheap_call(hubspot_connector: HubSpotConnector, hubspot_sandbox: Running) -> None:
    assert hubspot_sandbox.url in hubspot_connector.check()
    assert dict(hubspot_sandbox.app.counters) == {"list:companies": 1}


def test_a_bad_token_never_shows_up_in_errors_reprs_or_logs(
    hubspot_sandbox: Running, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "canary-7f3a9c-do-not-leak"
    connector = HubSpotConnector(canary, hubspot_sandbox.url, **FAST_RETRIES)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        connector.check()
    message = str(caught.value)
    assert "401" in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError):
        read(connector)
    for text in (message, repr(connector), str(connector), caplog.text, repr(vars(connector))):
        assert canary not in text
    with pytest.raises(TypeError, match="cannot be serialised"):
        pickle.dumps(connector)  # the SDK objects holding the raw token never reach a pickle


def test_an_unreachable_host_fails_fast_with_one_line() -> None:
    connector = HubSpotConnector("token", "http://127.0.0.1:9", **FAST_RETRIES)
    started = time.perf_counter()
    with pytest.raises(ConnectorError) as caught:
        connector.check()
    assert "cannot reach HubSpot" in str(caught.value) and "\n" not in str(caught.value)
    assert time.perf_counter() - started < 2


def test_a_missing_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(AuthError, match="HUBSPOT_ACCESS_TOKEN"):
        HubSpotConnector.from_env()


def test_an_unknown_object_is_refused_before_any_call(hubspot_connector: HubSpotConnector) -> None:
    with pytest.raises(ConnectorError, match="companies, contacts, deals"):
        hubspot_connector.describe("tickets")


def test_describe_gives_exact_case_options_and_unique_keys(hubspot_connector: HubSpotConnector) -> None:
    companies = {f.name: f for f in hubspot_connector.describe("companies")}
    assert companies["clientsuccess_status"].type == "enumeration"
    assert companies["clientsuccess_status"].options == ("Active", "Trial", "Inactive", "Terminated")
    assert companies["clientsuccess_id"].unique and not companies["domain"].unique
    assert companies["hs_lastmodifieddate"].read_only and companies["numberofemployees"].type == "number"
    contacts = {f.name: f for f in hubspot_connector.describe("contacts")}
    assert contacts["email"].unique  # HubSpot keeps contacts unique by email


# --- reading changes --------------------------------------------------------------------------
def test_a_full_pull_reads_every_record_once_in_order(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=1000)
    pages = read(hubspot_connector_factory())
    assert sorted(ids(pages), key=id_key) == [company_id(i) for i in range(1000)]
    stamps = [r.modified_at for p in pages for r in p.records]
    assert stamps == sorted(stamps)
    assert pages[-1].cursor == Cursor(seed.modified_at(999), company_id(999))
    assert sandbox.app.counters["search:companies"] == BLOCK_SEARCHES + keyset_pages(350) == 7


def test_500_records_on_one_timestamp_across_page_edges_are_never_lost(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    hubspot_sandbox_factory(companies=1000)
    connector = hubspot_connector_factory()
    pages = read(connector)
    everything = set(ids(pages))
    # Page 1 ends inside the block (records 150..649) in no id order: its cursor stays before it.
    assert pages[0].cursor == Cursor(seed.modified_at(BLOCK.start - 1), company_id(BLOCK.start - 1))
    cursors = [(p.cursor.modified_at, id_key(p.cursor.id)) for p in pages]
    assert cursors == sorted(cursors)
    for k, page in enumerate(pages):  # a crash after any page, then a resume, loses nothing
        resumed = ids(read(connector, since=page.cursor))
        assert set(ids(pages[: k + 1])) | set(resumed) == everything
        assert len(resumed) == len(set(resumed))


def test_since_inside_the_shared_block_is_strictly_after_the_id(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    hubspot_sandbox_factory(companies=700)
    since = Cursor(seed.modified_at(BLOCK.start), company_id(400))
    got = sorted(ids(read(hubspot_connector_factory(), since=since)), key=id_key)
    assert got == [company_id(i) for i in range(401, 700)]


def test_until_bounds_the_read(hubspot_connector: HubSpotConnector) -> None:
    until = seed.modified_at(9)
    got = ids(read(hubspot_connector, since=Cursor(seed.modified_at(4), company_id(4)), until=until))
    assert got == [company_id(i) for i in range(5, 10)]


def test_a_10k_pull_takes_at_most_52_searches(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=10_000)
    assert len(set(ids(read(hubspot_connector_factory())))) == 10_000
    searches = sandbox.app.counters["search:companies"]
    assert searches == BLOCK_SEARCHES + keyset_pages(10_000 - 650) == 52 <= math.ceil(10_000 / 200) + 2


@pytest.mark.slow
def test_25k_changes_past_the_search_cap_are_read_exactly_once(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=25_000)
    got = ids(read(hubspot_connector_factory()))
    assert len(got) == len(set(got)) == 25_000
    # Every page restarts at the last timestamp seen, so no search ever pages near the 10,000 cap.
    assert sandbox.app.counters["search:companies"] == BLOCK_SEARCHES + keyset_pages(25_000 - 650) == 128


@pytest.mark.slow
def test_more_than_10k_records_on_one_timestamp_are_read_by_id(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=0)
    store = sandbox.app.store("companies")
    moment = 1_800_000_000_000
    for i in range(10_300):
        store.create({"name": f"Bulk {i}"}, moment)
    store.create({"name": "Later"}, moment + 1)
    pages = read(hubspot_connector_factory())
    got = ids(pages)
    assert len(got) == len(set(got)) == 10_301
    # Two pages on the one timestamp, then that timestamp by hs_object_id (10,300 / 200 keyset
    # pages, skipping the 200 already read), then one search for the later record.
    assert sandbox.app.counters["search:companies"] == 2 + 52 + 1
    assert pages[-1].cursor == Cursor(from_ms(moment + 1), got[-1])


def test_a_record_changed_mid_read_is_not_lost(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=600)
    store = sandbox.app.store("companies")
    stream = hubspot_connector_factory().read_changed("companies", ["name"], Cursor())
    first = next(stream)
    store.update(store.live[int(first.records[0].id)], {"name": "Changed mid-read"}, sandbox.app.now_ms())
    got = ids([first, *stream])
    assert set(got) == {company_id(i) for i in range(600)}  # keyset paging: nothing shifts
    assert got.count(first.records[0].id) == 2  # once as it was, once as changed


def test_the_reader_survives_a_search_that_reshuffles_ties_on_every_call() -> None:
    """HubSpot promises no tie order; here it changes on every call (an in-memory search, no SDK)."""
    rows = [(str(1000 + i), 5_000 + i // 37) for i in range(2000)]  # ties of 37 records
    rows += [(str(4000 + i), 9_000) for i in range(600)]  # many pages on one timestamp
    rng = random.Random(7)
    compare = {"GT": operator.gt, "GTE": operator.ge, "LTE": operator.le, "EQ": operator.eq}

    def search(filters: list[dict], sort: str, after: int, limit: int) -> tuple[list[Hit], bool]:
        def value(row: tuple[str, int], name: str) -> int:
            return int(row[0]) if name == "hs_object_id" else row[1]

        found = [r for r in rows if all(compare[f["operator"]](value(r, f["propertyName"]), int(f["value"]))
                                        for f in filters)]  # fmt: skip
        rng.shuffle(found)
        found.sort(key=lambda r: value(r, sort))
        page = found[after : after + limit]
        return [Hit(i, ms, {}) for i, ms in page], after + len(page) < len(found)

    def read_from(since: Cursor) -> list[Page]:
        return list(ChangeReader(search, "hs_lastmodifieddate", since, page_size=50).pages())

    pages = read_from(Cursor())
    got = ids(pages)
    assert len(got) == len(set(got)) == len(rows)
    for k in range(0, len(pages), 7):  # resuming from any page's cursor loses nothing
        assert set(ids(pages[: k + 1])) | set(ids(read_from(pages[k].cursor))) == {i for i, _ in rows}


# --- faults -----------------------------------------------------------------------------------
def test_rate_limits_and_server_errors_end_with_the_same_result(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=900, contacts=50)
    connector = hubspot_connector_factory()
    expected = [(r.id, r.values["name"]) for p in read(connector) for r in p.records]
    writes = [WriteRequest(f"cs-{i}", {"name": f"New {i}"}) for i in range(250)]
    sandbox.app.retry_after_seconds = 0
    sandbox.app.faults.rate_limit_every, sandbox.app.faults.error_every = 3, 5
    assert [(r.id, r.values["name"]) for p in read(connector) for r in p.records] == expected
    results = connector.write("companies", writes)
    assert all(r.ok and r.created for r in results)
    counters = sandbox.app.counters
    assert counters["search:companies:429"] > 0 and counters["search:companies:5xx"] > 0
    assert counters["batch_upsert:companies:429"] + counters["batch_upsert:companies:5xx"] > 0
    assert len(sandbox.app.store("companies").live) == 900 + 250


def test_retry_after_is_honoured(hubspot_sandbox: Running, hubspot_connector_factory: Connect) -> None:
    connector = hubspot_connector_factory(max_retry_delay=5)
    hubspot_sandbox.app.faults.rate_limit_every = 2  # the 2nd request answers 429, Retry-After: 1
    started = time.perf_counter()
    connector.check()
    assert len(ids(read(connector))) == 30
    assert time.perf_counter() - started >= 1.0
    assert hubspot_sandbox.app.counters["search:companies:429"] == 1


def test_persistent_server_errors_give_up_with_one_line(
    hubspot_sandbox: Running, hubspot_connector: HubSpotConnector
) -> None:
    hubspot_sandbox.app.faults.error_every = 1
    with pytest.raises(ConnectorError) as caught:
        hubspot_connector.read_by_ids("companies", [company_id(0)], ["name"])
    assert "502" in str(caught.value) and "gave up after 6 attempts" in str(caught.value)
    assert "\n" not in str(caught.value) and "<html>" not in str(caught.value)
    assert hubspot_sandbox.app.counters["batch_read:companies"] == 6


def test_timeouts_are_retried_then_reported(
    hubspot_sandbox: Running, hubspot_connector_factory: Connect
) -> None:
    connector = hubspot_connector_factory(timeout=(1.0, 0.05), max_attempts=3)
    hubspot_sandbox.app.faults.latency_ms = 300
    with pytest.raises(ConnectorError, match=r"timed out.*gave up after 3 attempts"):
        connector.read_by_ids("companies", [company_id(0)], ["name"])
    # The client gave up on its last request before the sandbox's thread got to count it.
    for _ in range(200):
        if hubspot_sandbox.app.counters["batch_read:companies"] >= 3:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # and no fourth request follows
    assert hubspot_sandbox.app.counters["batch_read:companies"] == 3


# --- other reads ------------------------------------------------------------------------------
def test_read_by_ids_batches_100_and_skips_missing_and_archived(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=250)
    store = sandbox.app.store("companies")
    store.archive(store.live[int(company_id(7))], sandbox.app.now_ms())
    wanted = [company_id(i) for i in range(250)] + ["29999999998", "29999999999"]
    records = hubspot_connector_factory().read_by_ids("companies", wanted, ["name", "clientsuccess_id"])
    assert sorted(r.id for r in records) == sorted(set(wanted[:250]) - {company_id(7)})
    assert {r.id: r.values.get("clientsuccess_id") for r in records}[company_id(10)] == "legacy-10"
    assert sandbox.app.counters["batch_read:companies"] == 3


def test_read_deleted_lists_the_archive_since_a_time(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=200)
    store, early, late = sandbox.app.store("companies"), 1_800_000_000_000, 1_800_000_600_000
    for i in range(150):
        store.archive(store.live[int(company_id(i))], early if i < 120 else late)
    connector = hubspot_connector_factory()
    recent = [d for batch in connector.read_deleted("companies", from_ms(late - 1)) for d in batch]
    assert sorted(d.id for d in recent) == [company_id(i) for i in range(120, 150)]
    assert {d.deleted_at for d in recent} == {from_ms(late)}
    everything = [d for batch in connector.read_deleted("companies", None) for d in batch]
    assert len(everything) == 150
    assert sandbox.app.counters["list:companies"] == 2 * 2  # 150 archived, 100 a page, twice


def test_read_parents_maps_contacts_and_deals_to_companies(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=10, contacts=1500, deals=20)
    connector = hubspot_connector_factory()
    contacts = [r for p in read(connector, "contacts") for r in p.records]
    parents = connector.read_parents("contacts", contacts)
    assert len(parents) == 1500
    assert parents["10000000013"] == company_id(12 % 10)
    assert sandbox.app.counters["associations_batch_read"] == 2  # 1,000 ids a call
    deals = connector.read_by_ids("deals", ["30000000001", "30000000020"], ["dealname"])
    assert connector.read_parents("deals", deals) == {
        "30000000001": company_id(0),
        "30000000020": company_id(9),
    }
    assert connector.read_parents("companies", deals) == {}
    assert sandbox.app.counters["associations_batch_read"] == 3


# --- writing ----------------------------------------------------------------------------------
def test_pushing_creates_with_the_key_and_a_rerun_creates_nothing(
    hubspot_sandbox_factory: Factory, hubspot_connector_factory: Connect
) -> None:
    sandbox = hubspot_sandbox_factory(companies=5)
    connector = hubspot_connector_factory()
    requests = [WriteRequest(f"cs-{i}", {"name": f"New {i}", "numberofemployees": i}) for i in range(250)]
    first = connector.write("companies", requests)
    assert [r.key for r in first] == [f"cs-{i}" for i in range(250)]
    assert all(r.ok and r.created and r.external_id for r in first)
    assert sandbox.app.counters["batch_upsert:companies"] == 3 <= math.ceil(250 / 100) + 2
    stored = connector.read_by_ids(
        "companies", [first[7].external_id], ["clientsuccess_id", "numberofemployees"]
    )
    assert stored[0].values["clientsuccess_id"] == "cs-7" and stored[0].values["numberofemployees"] == "7"

    again = connector.write("companies", requests)  # a retry after a crash, say
    assert [r.external_id for r in again] == [r.external_id for r in first]
    assert not any(r.created for r in again) and all(r.ok for r in again)
    assert len(sandbox.app.store("companies").live) == 255


def test_linked_records_update_by_id_and_results_keep_request_order(
    hubspot_sandbox: Running, hubspot_connector: HubSpotConnector
) -> None:
    requests = [
        WriteRequest("a", {"name": "Linked A"}, external_id=company_id(3)),
        WriteRequest("b", {"name": "New B"}),
        WriteRequest("c", {"name": "Linked C", "clientsuccess_status": "Trial"}, external_id=company_id(4)),
        WriteRequest("d", {"name": "Gone"}, external_id="29999999999"),
    ]
    results = hubspot_connector.write("companies", requests)
    assert [(r.key, r.ok, r.created) for r in results] == [
        ("a", True, False),
        ("b", True, True),
        ("c", True, False),
        ("d", False, False),
    ]
    assert results[0].external_id == company_id(3) and "OBJECT_NOT_FOUND" in (results[3].error or "")
    counters = hubspot_sandbox.app.counters
    assert (counters["batch_update:companies"], counters["batch_upsert:companies"]) == (1, 1)
    assert hubspot_sandbox.app.store("companies").live[int(company_id(4))].props["name"] == "Linked C"


def test_a_wrong_case_enumeration_fails_that_record_only(
    hubspot_sandbox: Running, hubspot_connector: HubSpotConnector
) -> None:
    requests = [
        WriteRequest(f"cs-{i}", {"name": f"N{i}", "clientsuccess_status": "active" if i == 37 else "Active"})
        for i in range(100)
    ]
    results = hubspot_connector.write("companies", requests)
    assert [i for i, r in enumerate(results) if not r.ok] == [37]
    error = results[37].error or ""
    assert "clientsuccess_status" in error and "INVALID_OPTION" in error and "\n" not in error
    assert hubspot_sandbox.app.counters["batch_upsert:companies"] == 1
    assert len(hubspot_sandbox.app.store("companies").live) == 30 + 99


def test_contacts_upsert_by_email_and_get_their_primary_company(
    hubspot_sandbox: Running, hubspot_connector: HubSpotConnector
) -> None:
    existing = seed.person(0, 30)["email"]
    requests = [
        WriteRequest("p0", {"email": existing.upper(), "jobtitle": "CEO"}, parent_id=company_id(3)),
        WriteRequest("p1", {"email": "new.person@example.org", "firstname": "New"}, parent_id=company_id(2)),
        WriteRequest("p2", {"firstname": "No email"}),
        WriteRequest("p3", {"email": "NEW.person@example.org"}),
        WriteRequest("p4", {"email": "orphan@example.org"}, parent_id="29999999999"),
    ]
    results = hubspot_connector.write("contacts", requests)
    assert [(r.ok, r.created) for r in results[:2]] == [(True, False), (True, True)]
    assert "without email" in (results[2].error or "") and "duplicate" in (results[3].error or "")
    assert results[4].external_id and results[4].error and results[4].error.startswith("saved, but setting")
    counters = hubspot_sandbox.app.counters
    assert (counters["batch_upsert:contacts"], counters["associations_batch_create"]) == (1, 1)
    written = hubspot_connector.read_by_ids("contacts", [r.external_id for r in results[:2]], ["email"])
    assert hubspot_connector.read_parents("contacts", written) == {
        results[0].external_id: company_id(3),  # the new Primary company replaced the seeded one
        results[1].external_id: company_id(2),
    }


def test_deals_upsert_by_clientsuccess_id(
    hubspot_sandbox: Running, hubspot_connector: HubSpotConnector
) -> None:
    requests = [
        WriteRequest(
            "legacy-deal-10", {"dealname": "Renewal", "amount": 1200.5, "closedate": seed.BASE_TIME}
        ),
        WriteRequest("d-new", {"dealname": "Fresh", "dealstage": "Closedwon"}),
    ]
    results = hubspot_connector.write("deals", requests)
    assert (results[0].ok, results[0].created, results[0].external_id) == (True, False, "30000000011")
    assert not results[1].ok and "dealstage" in (results[1].error or "")
    stored = hubspot_sandbox.app.store("deals").live[30000000011].props
    assert stored["amount"] == "1200.5" and stored["closedate"] == "2026-01-05T09:00:00.000Z"
