"""The Salesforce sandbox against the public REST wire format, driven by simple-salesforce and requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin, format_soql
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from crmsync.sandbox import seed
from crmsync.sandbox.salesforce import SalesforceSandbox, make_id
from crmsync.sandbox.salesforce.schema import normalize_id, parse_id
from crmsync.sandbox.salesforce.soql import SoqlError, parse

V = "/services/data/v59.0"


def client(sandbox: SalesforceSandbox) -> Salesforce:
    return Salesforce(instance_url=sandbox.url, session_id=sandbox.token)


def rest(sandbox: SalesforceSandbox, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.token}", **kwargs.pop("headers", {})}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kwargs)


def soql(sandbox: SalesforceSandbox, q: str) -> requests.Response:
    return rest(sandbox, "GET", f"{V}/query", params={"q": q})


def accounts(n: int, prefix: str = "k", **extra) -> list[dict]:
    return [
        {"attributes": {"type": "Account"}, "Name": f"Co {i}", "ClientSuccess_Id__c": f"{prefix}{i}", **extra}
        for i in range(n)
    ]


# --- ids and seed ----------------------------------------------------------------------------
def test_ids_are_18_characters_with_the_case_safe_suffix_and_sort_like_indexes():
    assert normalize_id("001D000000IqhSL") == "001D000000IqhSLIAZ"  # the example in Salesforce's docs
    ids = [make_id("001", i) for i in (0, 9, 61, 62, 3843, 10**6)]
    assert ids == sorted(ids) and all(len(i) == 18 for i in ids)
    assert [parse_id(i) for i in ids] == [("001", i) for i in (0, 9, 61, 62, 3843, 10**6)]
    assert parse_id(ids[3][:15]) == ("001", 62) and parse_id("not-an-id") is None


def test_seed_is_deterministic_with_shared_timestamps_legacy_ids_and_parents(
    salesforce_sandbox, salesforce_sandbox_factory
):
    sf = client(salesforce_sandbox)
    rows = sf.query("SELECT Id, Name, ClientSuccess_Id__c, SystemModstamp FROM Account ORDER BY Id")[
        "records"
    ]
    assert [r["Id"] for r in rows] == [make_id("001", i) for i in range(50)]
    assert [r["ClientSuccess_Id__c"] for r in rows[:11]] == ["legacy-0"] + [None] * 9 + ["legacy-10"]
    assert rows[7]["Name"] == seed.company(7)["name"]
    assert rows[7]["SystemModstamp"] == "2026-01-05T09:00:07.000+0000"
    contact = sf.query(format_soql("SELECT AccountId FROM Contact WHERE Id = {}", make_id("003", 7)))[
        "records"
    ][0]
    assert contact["AccountId"] == make_id("001", 7)
    deals = sf.query(
        "SELECT ClientSuccess_Id__c, AccountId FROM Opportunity WHERE ClientSuccess_Id__c != null"
    )
    assert {r["ClientSuccess_Id__c"] for r in deals["records"]} == {
        f"legacy-deal-{i}" for i in range(0, 50, 10)
    }
    shared = seed.modified_at(seed.SHARED_TIMESTAMP_START)
    big = client(salesforce_sandbox_factory(accounts=700))
    assert (
        big.query(format_soql("SELECT COUNT() FROM Account WHERE SystemModstamp = {}", shared))["totalSize"]
        == 500
    )


@pytest.mark.salesforce_seed(accounts=1_000_000, contacts=1_000_000, opportunities=1_000_000)
def test_a_million_records_per_object_answer_range_queries_from_the_index(salesforce_sandbox):
    sf = client(salesforce_sandbox)
    since = datetime(2026, 1, 16, 22, 46, tzinfo=UTC)
    last = sf.query(
        format_soql("SELECT Id, Name FROM Account WHERE SystemModstamp >= {} ORDER BY SystemModstamp", since)
    )
    assert last["totalSize"] == 1_000_000 - int((since - seed.BASE_TIME).total_seconds()) == 40
    assert [r["Id"] for r in last["records"]][-1] == make_id("001", 999_999)
    count = sf.query(format_soql("SELECT COUNT() FROM Opportunity WHERE SystemModstamp > {}", since))
    assert count["totalSize"] == 39
    one = sf.query(format_soql("SELECT Id, Email FROM Contact WHERE Id = {}", make_id("003", 765_432)))
    assert one["records"][0]["Email"] == seed.person(765_432, 1_000_000)["email"]


# --- auth ------------------------------------------------------------------------------------
def test_a_bad_bearer_token_gets_invalid_session_id(salesforce_sandbox):
    response = requests.get(
        salesforce_sandbox.url + f"{V}/limits", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_soap_login_with_username_password_and_security_token(salesforce_sandbox):
    session_id, instance = SalesforceLogin(
        username="integration@crmsync.sandbox",
        password="sandbox-password",
        security_token="sandboxSecurityToken",
        scratch_url=salesforce_sandbox.url,
    )
    assert instance == salesforce_sandbox.url.removeprefix("https://")
    sf = Salesforce(session_id=session_id, instance=instance)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 50
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        SalesforceLogin(
            username="integration@crmsync.sandbox",
            password="wrong",
            security_token="x",
            scratch_url=salesforce_sandbox.url,
        )
    assert failed.value.code == "INVALID_LOGIN"
    assert salesforce_sandbox.sf.counters["login"] == 2


# --- describe --------------------------------------------------------------------------------
def test_describe_reports_types_picklists_and_external_id(salesforce_sandbox):
    fields = {f["name"]: f for f in client(salesforce_sandbox).Account.describe()["fields"]}
    status = fields["ClientSuccess_Status__c"]
    assert status["type"] == "picklist" and status["restrictedPicklist"] is True
    assert [p["value"] for p in status["picklistValues"]] == ["Active", "Trial", "Inactive", "Terminated"]
    assert (
        fields["ClientSuccess_Id__c"]["externalId"] is True
        and fields["ClientSuccess_Id__c"]["unique"] is True
    )
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["SystemModstamp"]["updateable"] is False
    assert fields["NumberOfEmployees"]["type"] == "int"
    assert rest(salesforce_sandbox, "GET", f"{V}/sobjects/Nope/describe").status_code == 404


# --- SOQL ------------------------------------------------------------------------------------
def test_soql_parser_handles_escapes_and_rejects_what_salesforce_rejects():
    q = parse(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ Sons' AND (Phone = null OR Phone != 'x')")
    assert q.where[1][0][3].value == "O'Brien \\ Sons"
    for bad in (
        "SELECT FROM Account",
        "SELECT Id FROM Account WHERE Name = 'x' AND Phone = 'y' OR Id = 'z'",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        r"SELECT Id FROM Account WHERE Name = '\q'",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id, FROM Account",
    ):
        with pytest.raises(SoqlError) as error:
            parse(bad)
        assert error.value.code == "MALFORMED_QUERY"


def test_query_filters_order_and_limit(salesforce_sandbox):
    sf = client(salesforce_sandbox)
    names = [seed.company(i)["name"] for i in (3, 4, 5)]
    upper = [n.upper() for n in names]  # text comparisons ignore case
    rows = sf.query(
        format_soql("SELECT Name FROM Account WHERE Name IN {} ORDER BY Name DESC LIMIT 2", upper)
    )
    rows = rows["records"]
    assert [r["Name"] for r in rows] == sorted(names, key=str.casefold, reverse=True)[:2]
    like = sf.query("SELECT Id FROM Account WHERE Name LIKE 'acme%' AND NumberOfEmployees >= 0")
    assert like["totalSize"] == sum(seed.company(i)["name"].startswith("Acme") for i in range(50))
    window = sf.query(
        "SELECT Id FROM Account WHERE SystemModstamp > 2026-01-05T09:00:10Z "
        "AND SystemModstamp <= 2026-01-05T10:00:20.000+01:00"
    )
    assert window["totalSize"] == 10
    keyset = sf.query(
        format_soql(
            "SELECT Id FROM Account WHERE (SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {id})) "
            "ORDER BY SystemModstamp, Id",
            at=datetime(2026, 1, 5, 9, 0, 40, tzinfo=UTC),
            id=make_id("001", 39),
        )
    )
    assert [r["Id"] for r in keyset["records"]] == [make_id("001", i) for i in range(40, 50)]


def test_query_errors_have_salesforce_codes(salesforce_sandbox):
    cases = {
        "SELECT Id FROM Account WHERE": "MALFORMED_QUERY",
        "SELECT Nope FROM Account": "INVALID_FIELD",
        "SELECT Id FROM Nope": "INVALID_TYPE",
        "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01'": "INVALID_FIELD",
        "SELECT Id FROM Account WHERE Id = 'abc'": "INVALID_QUERY_FILTER_OPERATOR",
    }
    for q, code in cases.items():
        response = soql(salesforce_sandbox, q)
        assert (response.status_code, response.json()[0]["errorCode"]) == (400, code), q


@pytest.mark.salesforce_seed(accounts=4500)
def test_query_pages_2000_at_a_time_with_next_records_url(salesforce_sandbox):
    first = soql(salesforce_sandbox, "SELECT Id FROM Account ORDER BY SystemModstamp, Id").json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (4500, False, 2000)
    assert first["nextRecordsUrl"].startswith(f"{V}/query/01g") and first["nextRecordsUrl"].endswith("-2000")
    everything = client(salesforce_sandbox).query_all("SELECT Id FROM Account")["records"]
    assert len({r["Id"] for r in everything}) == 4500
    small = rest(
        salesforce_sandbox,
        "GET",
        f"{V}/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert len(small["records"]) == 200 and small["nextRecordsUrl"].endswith("-200")


# --- writes ----------------------------------------------------------------------------------
def test_collections_upsert_creates_then_updates_and_checks_picklists_per_record(salesforce_sandbox):
    path = f"{V}/composite/sobjects/Account/ClientSuccess_Id__c"
    batch = accounts(3, ClientSuccess_Status__c="Active")
    batch[1]["ClientSuccess_Status__c"] = "active"
    first = rest(salesforce_sandbox, "PATCH", path, json={"allOrNone": False, "records": batch}).json()
    assert [(r["success"], r.get("created")) for r in first] == [(True, True), (False, False), (True, True)]
    assert first[1]["errors"] == [
        {
            "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "bad value for restricted picklist field: active",
            "fields": ["ClientSuccess_Status__c"],
        }
    ]
    again = rest(salesforce_sandbox, "PATCH", path, json={"allOrNone": False, "records": accounts(3)}).json()
    assert [r.get("created") for r in again] == [False, True, False]
    assert [again[0]["id"], again[2]["id"]] == [first[0]["id"], first[2]["id"]]
    legacy = rest(
        salesforce_sandbox,
        "PATCH",
        path,
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Renamed", "ClientSuccess_Id__c": "legacy-10"}
            ]
        },
    ).json()
    assert legacy[0] == {"id": make_id("001", 10), "success": True, "errors": [], "created": False}


def test_collections_limits_all_or_none_and_unknown_fields(salesforce_sandbox):
    path = f"{V}/composite/sobjects/Account/ClientSuccess_Id__c"
    too_many = rest(salesforce_sandbox, "PATCH", path, json={"records": accounts(201)})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    batch = accounts(2)
    batch[1]["Name"] = None
    rolled = rest(salesforce_sandbox, "PATCH", path, json={"allOrNone": True, "records": batch}).json()
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
    ]
    assert soql(salesforce_sandbox, "SELECT COUNT() FROM Account").json()["totalSize"] == 50
    unknown = rest(salesforce_sandbox, "PATCH", path, json={"records": accounts(1, Nope__c=1)})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    dupes = rest(salesforce_sandbox, "PATCH", path, json={"records": accounts(1) + accounts(1)}).json()
    assert [r["errors"][0]["statusCode"] for r in dupes] == ["DUPLICATE_EXTERNAL_ID"] * 2


def test_writes_move_system_modstamp_and_delete_goes_to_the_recycle_bin(salesforce_sandbox):
    target = make_id("001", 5)
    update = rest(
        salesforce_sandbox,
        "PATCH",
        f"{V}/composite/sobjects",
        json={"records": [{"attributes": {"type": "Account"}, "Id": target, "Phone": "+1 555 0100"}]},
    ).json()
    assert update == [{"id": target, "success": True, "errors": []}]
    rows = soql(
        salesforce_sandbox,
        "SELECT Id, SystemModstamp, LastModifiedDate FROM Account ORDER BY SystemModstamp, Id",
    ).json()["records"]
    assert rows[-1]["Id"] == target and rows[-1]["SystemModstamp"] == rows[-1]["LastModifiedDate"]
    assert rows[-1]["SystemModstamp"] > "2026-11"
    deleted = rest(salesforce_sandbox, "DELETE", f"{V}/composite/sobjects", params={"ids": target}).json()
    assert deleted == [{"id": target, "success": True, "errors": []}]
    assert soql(salesforce_sandbox, "SELECT COUNT() FROM Account").json()["totalSize"] == 49
    bin_ = rest(
        salesforce_sandbox,
        "GET",
        f"{V}/queryAll",
        params={"q": "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true"},
    ).json()
    assert bin_["records"][0]["Id"] == target and bin_["records"][0]["IsDeleted"] is True


# --- faults ----------------------------------------------------------------------------------
def test_fault_injection_answers_request_limit_exceeded_and_503(salesforce_sandbox):
    salesforce_sandbox.sf.faults.rate_limit_every = 2
    responses = [rest(salesforce_sandbox, "GET", f"{V}/limits") for _ in range(2)]
    assert responses[1].status_code == 403
    assert responses[1].json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    salesforce_sandbox.sf.faults.rate_limit_every, salesforce_sandbox.sf.faults.error_every = 0, 1
    assert rest(salesforce_sandbox, "GET", f"{V}/limits").status_code == 503
    assert (
        salesforce_sandbox.sf.counters["limits:429"] == 1
        and salesforce_sandbox.sf.counters["limits:5xx"] == 1
    )


# --- Bulk API 2.0 ----------------------------------------------------------------------------
def test_bulk_ingest_upsert_reports_successes_and_failures_as_csv(salesforce_sandbox):
    sf = client(salesforce_sandbox)
    records = [
        {"Name": f"Bulk {i}", "ClientSuccess_Id__c": f"b{i}", "NumberOfEmployees": str(i)} for i in range(5)
    ]
    records[2]["NumberOfEmployees"] = "many"
    records.append({"Name": "Old 20", "ClientSuccess_Id__c": "legacy-20", "NumberOfEmployees": "7"})
    [job] = sf.bulk2.Account.upsert(records=records, external_id_field="ClientSuccess_Id__c", wait=0.01)
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (6, 1)
    ok = sf.bulk2.Account.get_successful_records(job["job_id"])
    assert ok.splitlines()[0].startswith('"sf__Id","sf__Created"') and ok.count('"true"') == 4
    assert f'"{make_id("001", 20)}","false"' in ok
    failed = sf.bulk2.Account.get_failed_records(job["job_id"])
    assert "INVALID_TYPE_ON_FIELD_IN_RECORD" in failed and '"b2"' in failed
    counters = salesforce_sandbox.sf.counters
    assert (
        counters["bulk:ingest:create"],
        counters["bulk:ingest:upload"],
        counters["bulk:ingest:state"],
    ) == (1, 1, 1)


@pytest.mark.salesforce_seed(accounts=2500)
def test_bulk_query_pages_with_locator_and_record_count(salesforce_sandbox):
    sf = client(salesforce_sandbox)
    pages = list(
        sf.bulk2.Account.query("SELECT Id, Name, SystemModstamp FROM Account", max_records=1000, wait=0.01)
    )
    assert [p.count("\n") - 1 for p in pages] == [1000, 1000, 500]
    assert pages[0].splitlines()[1].startswith(f'"{make_id("001", 0)}"')
    assert salesforce_sandbox.sf.counters["bulk:query:results"] == 3
    bad = rest(
        salesforce_sandbox,
        "POST",
        f"{V}/jobs/query",
        json={"operation": "query", "query": "SELECT COUNT() FROM Account"},
    )
    assert bad.status_code == 400


# --- latency ---------------------------------------------------------------------------------
def test_requests_reuse_one_keep_alive_https_connection(salesforce_sandbox):
    """The sandbox keeps HTTPS connections alive, as Salesforce does: 201 requests, one handshake.
    (How fast it answers is the benchmarks' business, not a test's.)"""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {salesforce_sandbox.token}"}
    for _ in range(201):
        answer = session.get(salesforce_sandbox.url + f"{V}/limits", headers=headers, timeout=30)
        assert answer.status_code == 200
    [pool] = session.get_adapter(salesforce_sandbox.url).poolmanager.pools._container.values()
    assert pool.num_connections == 1
    assert pool.num_requests == 201
