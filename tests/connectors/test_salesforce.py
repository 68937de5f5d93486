"""The Salesforce connector through the real simple-salesforce SDK, over loopback HTTPS to the sandbox.

Call counts come from the sandbox's per-endpoint counters, so they are exact.
"""

from __future__ import annotations

import logging
import math
import traceback
from datetime import UTC, datetime

import pytest

from crmsync.connectors.base import AuthError, Connector, ConnectorError, Cursor, WriteRequest
from crmsync.connectors.salesforce import SalesforceConnector, soql_literal
from crmsync.sandbox import seed
from crmsync.sandbox.salesforce import make_id
from crmsync.secrets import Secret
from tests.fixtures.salesforce import FAST_CONNECTOR

FIELDS = ["Name", "Website", "ClientSuccess_Status__c", "ClientSuccess_Id__c"]


def query_calls(sandbox) -> int:
    return sandbox.sf.counters["query"] + sandbox.sf.counters["queryMore"]


def collection_calls(sandbox) -> int:
    return sum(
        n
        for label, n in sandbox.sf.counters.items()
        if label.startswith("collections:") and ":" not in label.removeprefix("collections:")
    )


def pull(connector, obj="Account", fields=FIELDS, since=None, until=None):
    pages = list(connector.read_changed(obj, fields, since or Cursor(), until))
    return pages, [r for p in pages for r in p.records]


def new_accounts(n, prefix="cs-", **values):
    return [
        WriteRequest(f"{prefix}{i}", {"Name": f"New Co {i}", "ClientSuccess_Status__c": "Active", **values})
        for i in range(n)
    ]


# --- check and describe ----------------------------------------------------------------------
def test_check_is_one_call_and_the_connector_fits_the_protocol(salesforce_sandbox, salesforce_connector):
    assert isinstance(salesforce_connector, Connector)
    assert "daily API requests left" in salesforce_connector.check()
    assert dict(salesforce_sandbox.sf.counters) == {"limits": 1}


def test_check_explains_a_bad_token_an_unreachable_host_and_an_untrusted_certificate(
    salesforce_sandbox, monkeypatch, tmp_path
):
    bad = SalesforceConnector(
        instance_url=salesforce_sandbox.url, access_token=Secret("expired"), **FAST_CONNECTOR
    )
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        bad.check()
    closed = SalesforceConnector(
        instance_url="https://localhost:9", access_token=Secret("x"), **FAST_CONNECTOR
    )
    with pytest.raises(ConnectorError, match="cannot reach localhost:9"):
        closed.check()
    other_ca = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    untrusted = SalesforceConnector.from_env(**FAST_CONNECTOR)
    with pytest.raises(
        ConnectorError, match=r"^TLS: the certificate of localhost:\d+ is not trusted; set REQUESTS_CA_BUNDLE"
    ):
        untrusted.check()


def test_describe_gives_exact_case_picklist_options_and_the_unique_external_id(salesforce_connector):
    fields = {f.name: f for f in salesforce_connector.describe("Account")}
    assert fields["ClientSuccess_Status__c"].type == "enumeration"
    assert fields["ClientSuccess_Status__c"].options == ("Active", "Trial", "Inactive", "Terminated")
    assert fields["ClientSuccess_Id__c"].unique and not fields["Name"].unique
    assert fields["SystemModstamp"].read_only and fields["NumberOfEmployees"].type == "number"


# --- reads -----------------------------------------------------------------------------------
def test_read_changed_pulls_everything_oldest_first_then_nothing_after_the_cursor(
    salesforce_sandbox, salesforce_connector
):
    pages, records = pull(salesforce_connector)
    assert [r.id for r in records] == [make_id("001", i) for i in range(50)]
    assert records[3].values["Name"] == seed.company(3)["name"]
    assert pages[-1].cursor == Cursor(records[-1].modified_at, records[-1].id)
    assert query_calls(salesforce_sandbox) == 1  # one queryAll page: no COUNT() round trip
    assert pull(salesforce_connector, since=pages[-1].cursor)[1] == []


@pytest.mark.salesforce_seed(accounts=1000)
def test_500_records_sharing_a_timestamp_across_page_boundaries_are_all_read(salesforce_sandbox):
    connector = SalesforceConnector.from_env(query_batch_size=200, **FAST_CONNECTOR)
    pages, records = pull(connector, fields=["Name"])
    assert [len(p.records) for p in pages] == [200] * 5
    assert [r.id for r in records] == [make_id("001", i) for i in range(1000)]
    assert all(
        p.cursor.modified_at == seed.modified_at(150) for p in pages[1:3]
    )  # boundaries inside the block
    # A run that stopped after the second page resumes from its cursor: no loss, no repeat.
    _, rest = pull(connector, fields=["Name"], since=pages[1].cursor)
    assert [r.id for r in rest] == [make_id("001", i) for i in range(400, 1000)]
    _, window = pull(
        connector, fields=["Name"], since=Cursor(seed.modified_at(150)), until=seed.modified_at(700)
    )
    assert len(window) == 700 - 150 + 1


@pytest.mark.salesforce_seed(accounts=10_000)
def test_pulling_10k_accounts_takes_exactly_the_pages_it_needs(salesforce_sandbox, salesforce_connector):
    _, records = pull(salesforce_connector, fields=["Name"])
    assert len({r.id for r in records}) == 10_000
    assert query_calls(salesforce_sandbox) == math.ceil(10_000 / 2000)  # the optimum: no COUNT()


def test_read_by_ids_queries_in_chunks_and_skips_unknown_ids(salesforce_sandbox, salesforce_connector):
    ids = [make_id("001", i) for i in range(50)] + [make_id("001", 999), "001bogus", "'; DROP"]
    records = salesforce_connector.read_by_ids("Account", ids * 5, ["Name"])
    assert sorted(r.id for r in records) == sorted(ids[:50])
    assert query_calls(salesforce_sandbox) == 1  # 51 distinct well-formed ids fit one chunk of 200
    many = [make_id("001", i) for i in range(450)]
    salesforce_sandbox.sf.reset_counters()
    assert len(salesforce_connector.read_by_ids("Account", many, ["Name"])) == 50
    assert query_calls(salesforce_sandbox) == 3


def test_read_parents_comes_from_account_id_without_another_call(salesforce_sandbox, salesforce_connector):
    _, contacts = pull(salesforce_connector, "Contact", ["Email"])
    calls = query_calls(salesforce_sandbox)
    parents = salesforce_connector.read_parents("Contact", contacts)
    assert parents[make_id("003", 7)] == make_id("001", 7)
    assert len(parents) == 50 and query_calls(salesforce_sandbox) == calls
    assert salesforce_connector.read_parents("Account", []) == {}


def test_read_deleted_lists_the_recycle_bin_since_a_time(salesforce_sandbox, salesforce_connector):
    before = datetime.now(UTC)
    doomed = [make_id("006", i) for i in (1, 2, 3)]
    from crmsync.sandbox.salesforce.store import Op

    salesforce_sandbox.sf.org.store("Opportunity").apply([Op("delete", id=i) for i in doomed])
    batches = list(salesforce_connector.read_deleted("Opportunity", before))
    assert [d.id for batch in batches for d in batch] == doomed
    assert all(d.deleted_at >= before.replace(microsecond=0) for batch in batches for d in batch)
    assert list(salesforce_connector.read_deleted("Opportunity", datetime.now(UTC).replace(year=2027))) == []
    assert salesforce_sandbox.sf.counters["query"] == 2


def test_read_changed_returns_deleted_records_marked_in_the_same_query(
    salesforce_sandbox, salesforce_connector
):
    from crmsync.sandbox.salesforce.store import Op

    _, before = pull(salesforce_connector, obj="Opportunity", fields=["Name"])
    since = Cursor(before[-1].modified_at, before[-1].id)
    doomed = [make_id("006", i) for i in (1, 2)]
    salesforce_sandbox.sf.org.store("Opportunity").apply([Op("delete", id=i) for i in doomed])
    salesforce_sandbox.sf.reset_counters()
    _, changed = pull(salesforce_connector, obj="Opportunity", fields=["Name"], since=since)
    assert [(r.id, r.deleted) for r in changed] == [(i, True) for i in doomed]
    assert "IsDeleted" not in changed[0].values
    assert query_calls(salesforce_sandbox) == 1  # changed and deleted rows: one queryAll


def test_values_in_soql_are_escaped(salesforce_sandbox, salesforce_connector):
    tricky = "O'Brien \\ Sons"
    assert soql_literal(tricky) == "'O\\'Brien \\\\ Sons'"
    assert soql_literal("x' OR Name != '") == "'x\\' OR Name != \\''"
    [created] = salesforce_connector.write("Account", [WriteRequest("tricky", {"Name": tricky})])
    found = salesforce_connector.read_by_values("Account", "Name", [tricky, "x' OR Name != '"], ["Name"])
    assert [(r.id, r.values["Name"]) for r in found] == [(created.external_id, tricky)]
    with pytest.raises(ConnectorError, match="not a Salesforce API name"):
        salesforce_connector.read_by_values("Account", "Name = 'x' OR Id", ["y"], ["Name"])


# --- writes ----------------------------------------------------------------------------------
def test_pushing_450_records_takes_3_collections_calls_and_rerunning_creates_nothing(
    salesforce_sandbox, salesforce_connector
):
    requests = new_accounts(450)
    first = salesforce_connector.write("Account", requests)
    assert [r.key for r in first] == [r.key for r in requests]
    assert all(r.ok and r.created and r.external_id.startswith("001") for r in first)
    assert collection_calls(salesforce_sandbox) == math.ceil(450 / 200) <= math.ceil(450 / 200) + 2
    again = salesforce_connector.write("Account", requests)
    assert [(r.ok, r.created, r.external_id) for r in again] == [(True, False, r.external_id) for r in first]
    _, records = pull(salesforce_connector)
    assert len(records) == 50 + 450
    assert {r.values["ClientSuccess_Id__c"] for r in records} >= {r.key for r in requests}


def test_a_wrong_case_picklist_value_fails_only_its_record(salesforce_sandbox, salesforce_connector):
    requests = new_accounts(200)
    requests[57] = WriteRequest("cs-57", {"Name": "Lower Case Inc", "ClientSuccess_Status__c": "active"})
    results = salesforce_connector.write("Account", requests)
    assert [i for i, r in enumerate(results) if not r.ok] == [57]
    assert results[57].error.startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value for restricted")
    assert results[57].details["errors"][0]["fields"] == ["ClientSuccess_Status__c"]
    assert sum(r.ok for r in results) == 199 and collection_calls(salesforce_sandbox) == 1


def test_a_refused_call_fails_each_of_its_records_with_the_reason(salesforce_sandbox, salesforce_connector):
    results = salesforce_connector.write("Account", new_accounts(3, Nope__c="x"))
    assert [r.ok for r in results] == [False] * 3
    assert "HTTP 400 INVALID_FIELD: No such column 'Nope__c'" in results[0].error
    assert collection_calls(salesforce_sandbox) == 1  # a 400 is not retried


def test_linked_records_update_by_id_and_parent_id_sets_account_id(salesforce_sandbox, salesforce_connector):
    account = make_id("001", 9)
    results = salesforce_connector.write(
        "Contact",
        [
            WriteRequest(
                "c-1", {"LastName": "Linked", "Email": "l@example.org"}, external_id=make_id("003", 4)
            ),
            WriteRequest("c-2", {"LastName": "Fresh"}, parent_id=account),
            WriteRequest("c-3", {"LastName": "Gone"}, external_id=make_id("003", 999)),
        ],
    )
    assert [(r.ok, r.created) for r in results] == [(True, False), (True, True), (False, False)]
    assert results[2].error.startswith("INVALID_CROSS_REFERENCE_KEY")
    counters = salesforce_sandbox.sf.counters
    assert (counters["collections:update"], counters["collections:upsert"]) == (1, 1)
    records = {
        r.id: r
        for r in salesforce_connector.read_by_ids(
            "Contact", [results[0].external_id, results[1].external_id], []
        )
    }
    assert records[make_id("003", 4)].values["AccountId"] == make_id("001", 4)  # unchanged parent
    assert records[results[1].external_id].values["AccountId"] == account


def test_above_the_threshold_a_write_is_one_bulk_ingest_job(salesforce_sandbox, monkeypatch):
    monkeypatch.setenv("CRMSYNC_SALESFORCE_BULK_THRESHOLD", "100")
    connector = SalesforceConnector.from_env(**FAST_CONNECTOR)
    requests = new_accounts(150, NumberOfEmployees=12, Website=None)
    requests[3] = WriteRequest("cs-3", {"Name": "Bad Case", "ClientSuccess_Status__c": "trial"})
    requests.append(WriteRequest("legacy-20", {"Name": "Adopted legacy"}))
    results = connector.write("Account", requests)
    counters = salesforce_sandbox.sf.counters
    assert counters["bulk:ingest:create"] == 1 and collection_calls(salesforce_sandbox) == 0
    assert [r.key for r in results] == [r.key for r in requests]
    assert [i for i, r in enumerate(results) if not r.ok] == [3]
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in results[3].error
    assert results[-1].external_id == make_id("001", 20) and not results[-1].created
    assert sum(r.created for r in results) == 149
    again = connector.write("Account", requests)
    assert sum(r.created for r in again) == 0 and counters["bulk:ingest:create"] == 2


def test_above_the_threshold_linked_records_are_one_bulk_update_job(salesforce_sandbox, monkeypatch):
    monkeypatch.setenv("CRMSYNC_SALESFORCE_BULK_THRESHOLD", "5")
    connector = SalesforceConnector.from_env(**FAST_CONNECTOR)
    linked = [
        WriteRequest(f"cs-{i}", {"Phone": f"+1 555 {i:04d}"}, external_id=make_id("001", i)) for i in range(8)
    ]
    linked[6] = WriteRequest("cs-6", {"NumberOfEmployees": "lots"}, external_id=make_id("001", 6))
    results = connector.write("Account", [*linked, *new_accounts(2)])
    counters = salesforce_sandbox.sf.counters
    assert (
        counters["bulk:ingest:create"],
        counters["collections:upsert"],
        counters["collections:update"],
    ) == (1, 1, 0)
    assert [r.ok for r in results] == [True] * 6 + [False] + [True] * 3
    assert (
        results[6].error == "INVALID_TYPE_ON_FIELD_IN_RECORD: Employees: value not of required type: lots "
        "(NumberOfEmployees)"
    )
    assert [r.external_id for r in results[:3]] == [make_id("001", i) for i in range(3)]
    phones = {
        r.id: r.values["Phone"] for r in connector.read_by_ids("Account", [make_id("001", 2)], ["Phone"])
    }
    assert phones == {make_id("001", 2): "+1 555 0002"}


@pytest.mark.salesforce_seed(accounts=1200)
def test_above_the_threshold_a_pull_is_one_bulk_query_job_with_the_same_records(
    salesforce_sandbox, monkeypatch
):
    rest_pages, rest_records = pull(
        SalesforceConnector.from_env(**FAST_CONNECTOR), fields=[*FIELDS, "AnnualRevenue"]
    )
    monkeypatch.setenv("CRMSYNC_SALESFORCE_BULK_THRESHOLD", "1000")
    salesforce_sandbox.sf.reset_counters()
    bulk = SalesforceConnector.from_env(**FAST_CONNECTOR)
    bulk_pages, bulk_records = pull(bulk, fields=[*FIELDS, "AnnualRevenue"])
    counters = salesforce_sandbox.sf.counters
    assert counters["bulk:query:create"] == 1 and counters["queryMore"] == 0 and counters["query"] == 1
    assert sorted((r.id, r.modified_at, r.values) for r in bulk_records) == sorted(
        (r.id, r.modified_at, r.values) for r in rest_records
    )
    assert bulk_pages[-1].cursor == rest_pages[-1].cursor


# --- faults ----------------------------------------------------------------------------------
@pytest.mark.salesforce_seed(accounts=5000)
def test_rate_limits_and_503s_are_retried_to_the_same_result(salesforce_sandbox, salesforce_connector):
    _, clean = pull(salesforce_connector)
    salesforce_sandbox.sf.faults.rate_limit_every = 3
    salesforce_sandbox.sf.faults.error_every = 4
    _, faulty = pull(salesforce_connector)
    assert [(r.id, r.values) for r in faulty] == [(r.id, r.values) for r in clean]
    results = salesforce_connector.write("Account", new_accounts(450))
    assert all(r.ok for r in results)
    counters = salesforce_sandbox.sf.counters
    assert counters["query:429"] + counters["queryMore:429"] > 0
    assert counters["collections:upsert:5xx"] + counters["collections:upsert:429"] > 0  # writes too
    salesforce_sandbox.sf.faults.rate_limit_every = salesforce_sandbox.sf.faults.error_every = 0
    assert len(pull(salesforce_connector)[1]) == 5450  # each record created exactly once


def test_bulk_jobs_restart_after_faults_without_duplicates(salesforce_sandbox, monkeypatch):
    monkeypatch.setenv("CRMSYNC_SALESFORCE_BULK_THRESHOLD", "10")
    connector = SalesforceConnector.from_env(**FAST_CONNECTOR)
    connector.check()
    connector.describe("Opportunity")
    # Every 7th call fails: the 7th is the upsert job's final GET, so the whole job runs again
    # (upserts on ClientSuccess_Id__c make that safe); later a results download is retried alone.
    salesforce_sandbox.sf.faults.error_every = 7
    results = connector.write("Account", new_accounts(40))
    assert all(r.ok for r in results) and salesforce_sandbox.sf.counters["bulk:ingest:create"] == 2
    _, records = pull(connector)
    assert salesforce_sandbox.sf.counters["bulk:query:create"] >= 1
    assert len({r.id for r in records}) == len(records) == 90
    assert {r.id for r in records} >= {make_id("001", i) for i in range(50)}


def test_a_server_that_stays_slow_times_out_with_one_line(salesforce_sandbox):
    salesforce_sandbox.sf.faults.latency_ms = 300
    connector = SalesforceConnector.from_env(**{**FAST_CONNECTOR, "timeout": 0.05, "max_attempts": 2})
    with pytest.raises(ConnectorError, match=r"did not answer within 0.05 s$"):
        connector.describe("Account")


# --- credentials -----------------------------------------------------------------------------
def test_username_password_login_and_relogin_after_the_session_expires(salesforce_sandbox, monkeypatch):
    monkeypatch.delenv("SALESFORCE_ACCESS_TOKEN")
    monkeypatch.setenv("SALESFORCE_USERNAME", "integration@crmsync.sandbox")
    monkeypatch.setenv("SALESFORCE_PASSWORD", "sandbox-password")
    monkeypatch.setenv("SALESFORCE_SECURITY_TOKEN", "sandboxSecurityToken")
    connector = SalesforceConnector.from_env(**FAST_CONNECTOR)
    assert "daily API requests left" in connector.check()
    salesforce_sandbox.sf.expire_sessions()
    assert len(pull(connector)[1]) == 50
    assert salesforce_sandbox.sf.counters["login"] == 2
    monkeypatch.setenv("SALESFORCE_PASSWORD", "wrong")
    with pytest.raises(AuthError, match=r"^Salesforce login failed: INVALID_LOGIN"):
        SalesforceConnector.from_env(**FAST_CONNECTOR).check()


def test_missing_credentials_fail_before_any_call(monkeypatch):
    for name in ("SALESFORCE_INSTANCE_URL", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthError, match="SALESFORCE_ACCESS_TOKEN"):
        SalesforceConnector.from_env()


def test_canary_secrets_never_appear_in_errors_reprs_or_logs(salesforce_sandbox, monkeypatch, caplog):
    canary = "CANARY-7f3a9c-secret"
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    messages: list[str] = []
    token_connector = SalesforceConnector(
        instance_url=salesforce_sandbox.url, access_token=Secret(canary), **FAST_CONNECTOR
    )
    seen += [repr(token_connector), str(token_connector)]
    for call in (token_connector.check, lambda: list(token_connector.read_changed("Account", [], Cursor()))):
        with pytest.raises(ConnectorError) as error:
            call()
        messages.append(str(error.value))
        seen += [repr(error.value), "".join(traceback.format_exception(error.value))]
    password_connector = SalesforceConnector(
        instance_url=salesforce_sandbox.url,
        username="integration@crmsync.sandbox",
        password=Secret(canary),
        security_token=Secret(canary + "-tok"),
        **FAST_CONNECTOR,
    )
    with pytest.raises(AuthError) as error:
        password_connector.check()
    messages.append(str(error.value))
    seen += [repr(password_connector), "".join(traceback.format_exception(error.value))]
    salesforce_sandbox.sf.faults.rate_limit_every = 1  # every retry is logged
    with pytest.raises(ConnectorError):
        SalesforceConnector(
            instance_url=salesforce_sandbox.url,
            access_token=Secret(salesforce_sandbox.token),
            **FAST_CONNECTOR,
        ).describe("Account")
    seen.append(caplog.text)
    assert "retry" in caplog.text
    assert not [text for text in seen + messages if canary in text or salesforce_sandbox.token in text]
    assert all("\n" not in message for message in messages)  # one line each
    assert not [text for text in seen if "During handling" in text]  # no SDK exception chained
