"""The HubSpot sandbox speaks HubSpot's wire format and enforces its documented limits."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import ApiException, BatchInputSimplePublicObjectBatchInputUpsert
from hubspot.crm.companies import SimplePublicObjectBatchInputUpsert as UpsertInput

from crmsync.sandbox import seed
from crmsync.sandbox.http import Running
from crmsync.sandbox.hubspot import DEFAULT_TOKEN, HubSpotApp
from crmsync.sandbox.hubspot.store import iso

MODIFIED = "hs_lastmodifieddate"


class Client:
    """Raw HTTP on one keep-alive connection, to check exact statuses, headers and bodies."""

    def __init__(self, sandbox: Running, token: str | None = DEFAULT_TOKEN):
        parts = urlsplit(sandbox.url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.token = token

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.connection.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        if data and headers.get("content-type", "").startswith("application/json"):
            return response.status, headers, json.loads(data)
        return response.status, headers, data


@pytest.fixture
def api(hubspot_sandbox: Running) -> Client:
    return Client(hubspot_sandbox)


def search_body(**extra: Any) -> dict:
    return {"sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}], "limit": 200, **extra}


def test_bad_or_missing_token_gets_hubspots_401_and_no_echo(hubspot_sandbox: Running) -> None:
    for token in ("canary-token-123", None):
        status, _, body = Client(hubspot_sandbox, token)("GET", "/crm/v3/objects/companies?limit=1")
        assert status == 401
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["correlationId"]
        assert "canary-token-123" not in json.dumps(body)


def test_list_pages_by_after_and_lists_the_archive(api: Client) -> None:
    seen, after = [], ""
    while True:
        status, _, body = api("GET", f"/crm/v3/objects/companies?limit=7&properties=name{after}")
        assert status == 200
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        after = f"&after={body['paging']['next']['after']}"
    assert len(seen) == len(set(seen)) == 30
    assert api("GET", "/crm/v3/objects/companies?limit=101")[0] == 400

    assert api("DELETE", f"/crm/v3/objects/companies/{seen[3]}")[0] == 204
    _, _, archived = api("GET", "/crm/v3/objects/companies?archived=true&limit=100")
    assert [r["id"] for r in archived["results"]] == [seen[3]]
    assert archived["results"][0]["archived"] is True and archived["results"][0]["archivedAt"]
    assert api("GET", f"/crm/v3/objects/companies/{seen[3]}")[0] == 404


def test_properties_api_describes_enumeration_and_unique_properties(hubspot_sandbox: Running) -> None:
    sdk = HubSpot(access_token=DEFAULT_TOKEN, host=hubspot_sandbox.url)
    companies = {p.name: p for p in sdk.crm.properties.core_api.get_all("companies").results}
    status = companies["clientsuccess_status"]
    assert status.type == "enumeration"
    assert [o.value for o in status.options] == ["Active", "Trial", "Inactive", "Terminated"]
    assert companies["clientsuccess_id"].has_unique_value is True
    assert companies["domain"].has_unique_value is False
    deals = {p.name: p for p in sdk.crm.properties.core_api.get_all("deals").results}
    assert deals["clientsuccess_id"].has_unique_value is True
    assert {"dealname", "amount", "closedate", "dealstage", "pipeline"} <= set(deals)
    contacts = {p.name for p in sdk.crm.properties.core_api.get_all("contacts").results}
    assert {"firstname", "lastname", "email", "phone", "jobtitle", "lastmodifieddate"} <= contacts


def test_seed_is_deterministic_with_legacy_ids_and_a_shared_timestamp_block() -> None:
    first, second = HubSpotApp(companies=700, deals=20), HubSpotApp(companies=700, deals=20)
    a, b = first.store("companies"), second.store("companies")
    assert [r.props for r in a.live.values()] == [r.props for r in b.live.values()]
    legacy = [r.props.get("clientsuccess_id") for r in a.live.values()]
    assert legacy[0] == seed.company(0)["legacy_cs_id"] and legacy[1] is None
    assert sum(v is not None for v in legacy) == 70
    shared = {r.modified for r in list(a.live.values())[150:650]}
    assert len(shared) == 1
    assert first.store("deals").live[30_000_000_001].props["clientsuccess_id"] == "legacy-deal-0"


def test_search_filters_sorts_and_pages(api: Client) -> None:
    _, _, everything = api("POST", "/crm/v3/objects/companies/search", search_body(properties=["name"]))
    assert everything["total"] == 30 and "paging" not in everything
    ids = [r["id"] for r in everything["results"]]
    third = everything["results"][2]["properties"][MODIFIED]

    def ids_for(*filters: dict, **extra: Any) -> list[str]:
        status, _, body = api(
            "POST",
            "/crm/v3/objects/companies/search",
            search_body(filterGroups=[{"filters": list(filters)}], **extra),
        )
        assert status == 200, body
        return [r["id"] for r in body["results"]]

    assert ids_for({"propertyName": MODIFIED, "operator": "GT", "value": third}) == ids[3:]
    assert ids_for({"propertyName": MODIFIED, "operator": "LTE", "value": third}) == ids[:3]
    assert ids_for({"propertyName": "hs_object_id", "operator": "EQ", "value": ids[5]}) == [ids[5]]
    assert ids_for({"propertyName": "hs_object_id", "operator": "IN", "values": ids[:2]}) == ids[:2]
    assert len(ids_for({"propertyName": "hs_object_id", "operator": "NEQ", "value": ids[0]})) == 29
    assert ids_for({"propertyName": "clientsuccess_id", "operator": "HAS_PROPERTY"}) == [
        ids[0],
        ids[10],
        ids[20],
    ]
    assert len(ids_for({"propertyName": "clientsuccess_id", "operator": "NOT_HAS_PROPERTY"})) == 27
    assert ids_for(
        {"propertyName": "hs_object_id", "operator": "GTE", "value": ids[28]},
        sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
    ) == [ids[29], ids[28]]
    _, _, page = api("POST", "/crm/v3/objects/companies/search", search_body(limit=10, after="10"))
    assert [r["id"] for r in page["results"]] == ids[10:20] and page["paging"]["next"]["after"] == "20"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (search_body(limit=201), "limit"),
        (search_body(after="10000"), "10000"),
        ({"sorts": [{"propertyName": MODIFIED}, {"propertyName": "hs_object_id"}]}, "one sort"),
        ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]}, "nope"),
        (
            {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "x"}] * 11}]},
            "10",
        ),
    ],
)
def test_search_breaking_hubspot_rules_is_a_400(api: Client, body: dict, reason: str) -> None:
    status, _, error = api("POST", "/crm/v3/objects/companies/search", body)
    assert status == 400
    assert error["category"] == "VALIDATION_ERROR" and reason in error["message"]


def test_search_caps_at_ten_thousand_results(hubspot_sandbox_factory) -> None:
    api = Client(hubspot_sandbox_factory(companies=10_050))
    status, _, body = api("POST", "/crm/v3/objects/companies/search", search_body(after="9800"))
    assert status == 200 and len(body["results"]) == 200 and body["total"] == 10_050
    assert body["paging"]["next"]["after"] == "10000"  # as HubSpot does: the next page is a 400
    assert api("POST", "/crm/v3/objects/companies/search", search_body(after="10000"))[0] == 400


def test_writes_move_the_modified_date_and_archived_records_leave_search(api: Client) -> None:
    _, _, first = api("POST", "/crm/v3/objects/companies/search", search_body(limit=1))
    record = first["results"][0]
    before = record["properties"][MODIFIED]
    status, _, same = api(
        "PATCH",
        f"/crm/v3/objects/companies/{record['id']}",
        {"properties": {"name": record["properties"]["name"]}},
    )
    assert status == 200 and same["updatedAt"] == before  # a no-op write changes nothing
    _, _, changed = api(
        "PATCH", f"/crm/v3/objects/companies/{record['id']}", {"properties": {"name": "Renamed"}}
    )
    assert changed["updatedAt"] > before and changed["properties"][MODIFIED] == changed["updatedAt"]
    _, _, moved = api("POST", "/crm/v3/objects/companies/search", search_body())
    assert moved["results"][-1]["id"] == record["id"]  # now the newest
    api("POST", "/crm/v3/objects/companies/batch/archive", {"inputs": [{"id": record["id"]}]})
    _, _, after = api("POST", "/crm/v3/objects/companies/search", search_body())
    assert after["total"] == 29 and record["id"] not in {r["id"] for r in after["results"]}


def test_batch_limits_are_enforced(api: Client) -> None:
    inputs = [{"id": str(20_000_000_001 + i)} for i in range(101)]
    assert api("POST", "/crm/v3/objects/companies/batch/read", {"inputs": inputs})[0] == 400
    upserts = [{"idProperty": "clientsuccess_id", "id": f"k{i}", "properties": {}} for i in range(101)]
    assert api("POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": upserts})[0] == 400
    reads = [{"id": str(10_000_000_001 + i)} for i in range(1001)]
    assert api("POST", "/crm/v4/associations/contacts/companies/batch/read", {"inputs": reads})[0] == 400


def test_batch_read_reports_missing_ids_as_a_207_error(api: Client) -> None:
    body = {"inputs": [{"id": "20000000001"}, {"id": "29999999999"}], "properties": ["name"]}
    status, _, answer = api("POST", "/crm/v3/objects/companies/batch/read", body)
    assert status == 207
    assert [r["id"] for r in answer["results"]] == ["20000000001"]
    assert answer["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert answer["errors"][0]["context"] == {"ids": ["29999999999"]}


def test_upsert_by_domain_is_refused_by_the_sdk_call(hubspot_sandbox: Running) -> None:
    batch_api = HubSpot(access_token=DEFAULT_TOKEN, host=hubspot_sandbox.url).crm.companies.batch_api
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[UpsertInput(id_property="domain", id="acme.example.com", properties={"name": "Acme"})]
    )
    with pytest.raises(ApiException) as caught:
        batch_api.upsert(body)
    assert caught.value.status == 400
    assert "non-unique 0-2 property" in json.loads(caught.value.body)["message"]


def test_upsert_creates_once_then_updates_by_the_unique_key(api: Client) -> None:
    body = {"inputs": [{"idProperty": "clientsuccess_id", "id": "cs-1", "properties": {"name": "One"}}]}
    status, _, created = api("POST", "/crm/v3/objects/companies/batch/upsert", body)
    assert status == 200 and created["results"][0]["new"] is True
    status, _, again = api("POST", "/crm/v3/objects/companies/batch/upsert", body)
    assert again["results"][0]["new"] is False and again["results"][0]["id"] == created["results"][0]["id"]
    email = seed.person(0, 30)["email"].upper()
    contact = {"idProperty": "email", "id": email, "properties": {"jobtitle": "CTO"}}
    _, _, upserted = api("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [contact]})
    assert upserted["results"][0]["new"] is False  # emails match case-insensitively, as in HubSpot
    duplicate = {"inputs": [body["inputs"][0], body["inputs"][0]]}
    assert api("POST", "/crm/v3/objects/companies/batch/upsert", duplicate)[0] == 400


def test_wrong_case_enumeration_is_a_per_record_207_error(api: Client) -> None:
    inputs = [
        {
            "idProperty": "clientsuccess_id",
            "id": f"cs-{i}",
            "objectWriteTraceId": str(i),
            "properties": {"clientsuccess_status": "active" if i == 1 else "Active"},
        }
        for i in range(3)
    ]
    status, _, answer = api("POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": inputs})
    assert status == 207
    assert sorted(r["objectWriteTraceId"] for r in answer["results"]) == ["0", "2"]
    error = answer["errors"][0]
    assert error["context"]["objectWriteTraceId"] == ["1"]
    assert (
        error["errors"][0]["code"] == "INVALID_OPTION" and error["errors"][0]["in"] == "clientsuccess_status"
    )
    assert "active was not one of the allowed options" in error["message"]

    # Without objectWriteTraceId HubSpot refuses the whole batch and writes nothing.
    untraced = [
        {k: v for k, v in i.items() if k != "objectWriteTraceId"} | {"id": f"x-{i['id']}"} for i in inputs
    ]
    assert api("POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": untraced})[0] == 400
    _, _, check = api(
        "POST",
        "/crm/v3/objects/companies/search",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "clientsuccess_id", "operator": "EQ", "value": "x-cs-0"}]}
            ]
        },
    )
    assert check["total"] == 0


def test_batch_create_answers_201_or_207_and_can_associate(api: Client) -> None:
    good = {
        "objectWriteTraceId": "a",
        "properties": {"firstname": "Ann", "email": "ann@example.org"},
        "associations": [
            {
                "to": {"id": "20000000002"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
            }
        ],
    }
    bad = {"objectWriteTraceId": "b", "properties": {"email": "bob@example.org", "hs_object_id": "1"}}
    status, _, answer = api("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [good]})
    assert status == 201 and answer["results"][0]["properties"]["email"] == "ann@example.org"
    new_id = answer["results"][0]["id"]
    _, _, parents = api("GET", f"/crm/v4/objects/contacts/{new_id}/associations/companies")
    assert parents["results"][0]["toObjectId"] == 20000000002
    status, _, answer = api("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [bad]})
    assert status == 207 and answer["errors"][0]["errors"][0]["code"] == "READ_ONLY_VALUE"
    duplicate = {"objectWriteTraceId": "c", "properties": {"email": "ANN@example.org"}}
    status, _, answer = api("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [duplicate]})
    assert status == 207 and answer["errors"][0]["errors"][0]["code"] == "VALUE_NOT_UNIQUE"


def test_associations_read_default_and_primary(api: Client, hubspot_sandbox: Running) -> None:
    contact, other = "10000000001", "10000000002"
    body = {"inputs": [{"id": contact}, {"id": "10000099999"}]}
    status, _, answer = api("POST", "/crm/v4/associations/contacts/companies/batch/read", body)
    assert status == 207  # the unknown contact has no associations
    to = answer["results"][0]["to"]
    assert to == [
        {
            "toObjectId": 20000000001,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
                {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
            ],
        }
    ]

    status, _, made = api(
        "PUT", f"/crm/v4/objects/contacts/{other}/associations/default/companies/20000000005"
    )
    assert status == 200 and {r["associationSpec"]["associationTypeId"] for r in made["results"]} == {
        279,
        280,
    }
    create = {
        "inputs": [
            {
                "from": {"id": contact},
                "to": {"id": "20000000007"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
            }
        ]
    }
    assert api("POST", "/crm/v4/associations/contacts/companies/batch/create", create)[0] == 201
    _, _, now = api(
        "POST", "/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": contact}]}
    )
    primary = [t["toObjectId"] for t in now["results"][0]["to"] if t["associationTypes"][0]["typeId"] == 1]
    assert primary == [20000000007]  # the new Primary replaced the old one
    assert hubspot_sandbox.app.counters["associations_batch_read"] == 2


def test_injected_429_has_hubspots_headers_and_body(api: Client, hubspot_sandbox: Running) -> None:
    hubspot_sandbox.app.faults.rate_limit_every = 1
    status, headers, body = api("GET", "/crm/v3/objects/companies?limit=1")
    assert status == 429
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert headers["retry-after"] == "1" and headers["x-hubspot-ratelimit-remaining"] == "0"
    assert headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    status, headers, body = api("POST", "/crm/v3/objects/companies/search", search_body())
    assert status == 429 and body["policyName"] == "SECONDLY"
    assert not any(k.startswith("x-hubspot-ratelimit") for k in headers)  # search sends none, per the docs
    hubspot_sandbox.app.faults.rate_limit_every = 0
    hubspot_sandbox.app.faults.error_every = 1
    status, headers, _ = api("GET", "/crm/v3/objects/companies?limit=1")
    assert status == 502 and headers["content-type"] == "text/html"
    _, _, stats = api("GET", "/__sandbox__/stats")
    assert stats["counters"]["list:companies:429"] == 1 and stats["counters"]["list:companies:5xx"] == 1


def test_the_optional_real_limiter_refuses_the_sixth_search_in_a_second() -> None:
    app = HubSpotApp(companies=3, enforce_limits=True)
    from crmsync.sandbox.http import serve

    running = serve(app)
    try:
        api = Client(running)
        statuses = [api("POST", "/crm/v3/objects/companies/search", search_body())[0] for _ in range(6)]
    finally:
        running.stop()
    assert statuses == [200] * 5 + [429]


def test_timestamps_use_hubspots_format() -> None:
    assert iso(1767603600123) == "2026-01-05T09:00:00.123Z"


def test_requests_reuse_one_keep_alive_connection(api: Client) -> None:
    """The sandbox keeps connections alive, as HubSpot does: 200 requests over one socket.
    (How fast it answers is the benchmarks' business, not a test's.)"""
    assert api("GET", "/crm/v3/objects/companies?limit=1")[0] == 200
    socket = api.connection.sock
    for _ in range(200):
        assert api("GET", "/crm/v3/objects/companies?limit=1")[0] == 200
    assert api.connection.sock is socket  # http.client would have opened a new one after a close
