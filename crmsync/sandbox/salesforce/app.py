"""The Salesforce REST sandbox: login, describe, query/queryAll, sObject rows and Collections."""

from __future__ import annotations

import html
import re
import secrets
import threading
from collections import OrderedDict
from typing import Any

from crmsync.sandbox.http import App, HttpError, Request, Response
from crmsync.sandbox.salesforce import query, schema, soql
from crmsync.sandbox.salesforce.bulk import BulkJobs, sf_error
from crmsync.sandbox.salesforce.schema import API_VERSION, make_id
from crmsync.sandbox.salesforce.store import ObjectStore, Op, Org, Outcome

V = r"/services/data/v(?P<version>\d+\.\d)"
QUERY_BATCH_SIZE = 2000  # REST query default (and maximum) batch size
COLLECTION_LIMIT = 200  # sObject Collections: records per request
MAX_OPEN_CURSORS = 10  # Salesforce keeps 10 query cursors per user; older ones are dropped
MAX_URI_LENGTH = 16_384
DAILY_API_REQUESTS = 100_000
ORG_ID = make_id("00D", 1)
USER_ID = make_id("005", 1)


class SalesforceApp(App):
    """A Salesforce org over REST: bearer tokens, SOAP login, SOQL, Collections and Bulk API 2.0."""

    name = "salesforce"

    def __init__(self, org: Org, token: str, username: str, password: str, security_token: str) -> None:
        super().__init__()
        self.org = org
        self.tokens = {token}
        self.username, self.password, self.security_token = username, password, security_token
        self.cursors: OrderedDict[str, tuple[ObjectStore, list[str], list[int]]] = OrderedDict()
        self._ids = 0
        self._id_lock = threading.Lock()
        self._routes()
        self.bulk = BulkJobs(self)

    def _routes(self) -> None:
        r = self.route
        r("POST", r"/services/Soap/u/(?P<version>\d+\.\d)/?", "login", self.login)
        r("GET", r"/services/data/?", "versions", self.versions)
        r("GET", rf"{V}/?", "resources", self.resources)
        r("GET", rf"{V}/limits/?", "limits", self.limits)
        r("GET", rf"{V}/sobjects/?", "describeGlobal", self.describe_global)
        r("GET", rf"{V}/sobjects/(?P<obj>\w+)/describe/?", "describe", self.describe)
        r("GET", rf"{V}/(?P<kind>query|queryAll)/?", "query", self.query)
        r(
            "GET",
            rf"{V}/(?:query|queryAll)/(?P<locator>01g\w+)-(?P<offset>\d+)/?",
            "queryMore",
            self.query_more,
        )
        r("POST", rf"{V}/composite/sobjects/?", "collections:create", self.collection_create)
        r("PATCH", rf"{V}/composite/sobjects/?", "collections:update", self.collection_update)
        r(
            "PATCH",
            rf"{V}/composite/sobjects/(?P<obj>\w+)/(?P<field>\w+)/?",
            "collections:upsert",
            self.collection_upsert,
        )
        r("DELETE", rf"{V}/composite/sobjects/?", "collections:delete", self.collection_delete)
        r("POST", rf"{V}/sobjects/(?P<obj>\w+)/?", "sobject:create", self.row_create)
        r("GET", rf"{V}/sobjects/(?P<obj>\w+)/(?P<id>\w{{15,18}})/?", "sobject:get", self.row_get)
        r("PATCH", rf"{V}/sobjects/(?P<obj>\w+)/(?P<id>\w{{15,18}})/?", "sobject:update", self.row_update)
        r("DELETE", rf"{V}/sobjects/(?P<obj>\w+)/(?P<id>\w{{15,18}})/?", "sobject:delete", self.row_delete)

    # --- http.App hooks ----------------------------------------------------------------------
    def authenticate(self, request: Request, label: str) -> None:
        if label in ("login", "versions"):
            return
        header = request.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""
        if token not in self.tokens:
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def rate_limited(self, request: Request, label: str) -> Response:
        if label == "login":
            return _soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        return Response(403, body)

    def server_error(self, request: Request, label: str) -> Response:
        body = [{"message": "Service temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        return Response(503, body)

    def dispatch(self, request: Request) -> Response:
        if (
            len(request.path) + sum(len(k) + len(v) for k, vs in request.query.items() for v in vs)
            > MAX_URI_LENGTH
        ):
            return Response(414, [{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}])
        response = super().dispatch(request)
        response.headers.setdefault("Sforce-Limit-Info", f"api-usage={self._seen}/{DAILY_API_REQUESTS}")
        return response

    # --- helpers -----------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """A fresh id for jobs and query locators."""
        with self._id_lock:
            self._ids += 1
            return make_id(prefix, self._ids)

    def store(self, name: str) -> ObjectStore:
        store = self.org.store(name)
        if store is None:
            raise sf_error(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
        return store

    def prepare(self, q: str | None) -> tuple[ObjectStore, query.Bound]:
        """Parse and bind SOQL, answering 400 with Salesforce's error codes when it is wrong."""
        try:
            parsed = soql.parse(q or "")
            store = self.org.store(parsed.obj)
            if store is None:
                raise soql.SoqlError("INVALID_TYPE", f"sObject type '{parsed.obj}' is not supported.")
            return store, query.bind(parsed, store.sobject)
        except soql.SoqlError as exc:
            raise sf_error(400, exc.code, exc.message) from None

    def record_json(self, store: ObjectStore, index: int, fields: list[str], version: str) -> dict[str, Any]:
        record = store.get(index) or {}
        sobject = store.sobject
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject.name,
                "url": f"/services/data/v{version}/sobjects/{sobject.name}/{record.get('Id')}",
            }
        }
        for name in fields:
            out[name] = schema.to_json(sobject.fields[name], record.get(name))
        return out

    # --- login and metadata --------------------------------------------------------------------
    def login(self, request: Request) -> Response:
        """The SOAP login call (partner API) that simple-salesforce sends for username/password."""
        body = request.body.decode("utf-8", "replace")
        username = html.unescape(_xml_text(body, "username"))
        password = html.unescape(_xml_text(body, "password"))
        if username != self.username or password != self.password + self.security_token:
            return _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        session = f"{ORG_ID[:15]}!{secrets.token_urlsafe(24)}"
        self.tokens.add(session)
        host = request.headers.get("host", "localhost")
        version = request.params["version"]
        server = f"https://{host}/services/Soap/u/{version}/{ORG_ID[:15]}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            f"<soapenv:Body><loginResponse><result><metadataServerUrl>https://{host}/services/Soap/m/{version}/"
            f"{ORG_ID[:15]}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{session}</sessionId><userId>{USER_ID}</userId>"
            f"<userInfo><organizationId>{ORG_ID}</organizationId><userName>{html.escape(username)}</userName>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(200, xml, content_type="text/xml; charset=utf-8")

    def expire_sessions(self) -> None:
        """Forget every session made by login (the configured access token stays valid)."""
        self.tokens = {t for t in self.tokens if "!" not in t}

    def versions(self, request: Request) -> Any:
        return [{"label": "Winter '24", "url": f"/services/data/v{API_VERSION}", "version": API_VERSION}]

    def resources(self, request: Request) -> Any:
        base = f"/services/data/v{request.params['version']}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return {name: f"{base}/{name}" for name in names}

    def limits(self, request: Request) -> Any:
        used = self._seen
        return {
            "DailyApiRequests": {"Max": DAILY_API_REQUESTS, "Remaining": max(DAILY_API_REQUESTS - used, 0)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self.bulk.query_jobs)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - len(self.bulk.ingest_jobs)},
        }

    def describe_global(self, request: Request) -> Any:
        sobjects = [
            {k: v for k, v in schema.describe(o).items() if k != "fields"} for o in schema.OBJECTS.values()
        ]
        return {"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": sobjects}

    def describe(self, request: Request) -> Any:
        return schema.describe(self.store(request.params["obj"]).sobject)

    # --- query -------------------------------------------------------------------------------
    def query(self, request: Request) -> Any:
        store, bound = self.prepare(request.arg("q"))
        refs = query.run(store, bound, include_deleted=request.params["kind"] == "queryAll")
        if bound.fields is None:
            return {"totalSize": len(refs), "done": True, "records": []}
        locator = self.new_id("01g")
        with self._id_lock:
            self.cursors[locator] = (store, bound.fields, refs)
            while len(self.cursors) > MAX_OPEN_CURSORS:
                self.cursors.popitem(last=False)
        return self._page(request, locator, 0)

    def query_more(self, request: Request) -> Any:
        return self._page(request, request.params["locator"], int(request.params["offset"]))

    def _page(self, request: Request, locator: str, offset: int) -> Any:
        cursor = self.cursors.get(locator)
        if cursor is None:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        store, fields, refs = cursor
        size = _batch_size(request.headers.get("sforce-query-options", ""))
        version = request.params["version"]
        chunk = refs[offset : offset + size]
        body: dict[str, Any] = {
            "totalSize": len(refs),
            "done": offset + size >= len(refs),
            "records": [self.record_json(store, i, fields, version) for i in chunk],
        }
        if not body["done"]:  # the cursor stays until evicted, so a retried GET of a page still works
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + size}"
        return body

    # --- sObject Collections -----------------------------------------------------------------
    def _collection(self, request: Request) -> tuple[list[dict[str, Any]], bool]:
        payload = request.json() or {}
        records = payload.get("records")
        if not isinstance(records, list) or not records:
            raise sf_error(400, "INVALID_FIELD", "The records field is required")
        if len(records) > COLLECTION_LIMIT:
            raise sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
            )
        return records, bool(payload.get("allOrNone", False))

    def _values(self, store: ObjectStore, record: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        """A record's field values by canonical name; an unknown field fails the whole request."""
        if not isinstance(record, dict):
            raise sf_error(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        values = {}
        for name, value in record.items():
            if name == "attributes" or name in drop:
                continue
            f = store.sobject.field(name)
            if f is None:
                raise sf_error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {store.sobject.name}"
                )
            values[f.name] = value
        return values

    def _typed(self, records: list[Any]) -> ObjectStore:
        types = {(r.get("attributes") or {}).get("type") for r in records if isinstance(r, dict)}
        if len(types) != 1 or None in types:
            raise sf_error(
                400, "INVALID_TYPE", "Each record must name one and the same sObject type in attributes"
            )
        return self.store(str(types.pop()))

    def collection_create(self, request: Request) -> Any:
        records, all_or_none = self._collection(request)
        store = self._typed(records)
        ops = [Op("create", self._values(store, r)) for r in records]
        return [_result(o) for o in store.apply(ops, all_or_none)]

    def collection_update(self, request: Request) -> Any:
        records, all_or_none = self._collection(request)
        store = self._typed(records)
        ops = [Op("update", self._values(store, r, drop=("Id",)), id=str(r.get("Id") or "")) for r in records]
        return [_result(o) for o in store.apply(ops, all_or_none)]

    def collection_upsert(self, request: Request) -> Any:
        records, all_or_none = self._collection(request)
        store = self.store(request.params["obj"])
        f = store.sobject.field(request.params["field"])
        if f is None or not f.external_id:
            raise sf_error(
                400, "INVALID_FIELD", f"Field {request.params['field']} is not an external id field"
            )
        ops = [Op("upsert", self._values(store, r)) for r in records]
        return [_result(o, upsert=True) for o in store.apply(ops, all_or_none)]

    def collection_delete(self, request: Request) -> Any:
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if len(ids) > COLLECTION_LIMIT:
            raise sf_error(
                400, "EXCEEDED_ID_LIMIT", f"cannot delete more than {COLLECTION_LIMIT} records at once"
            )
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        results: list[Any] = []
        for prefix in dict.fromkeys(i[:3] for i in ids):
            sobject = schema.PREFIXES.get(prefix)
            if sobject is None:
                results += [
                    {
                        "success": False,
                        "errors": [{"statusCode": "MALFORMED_ID", "message": f"bad id {i}", "fields": []}],
                    }
                    for i in ids
                    if i[:3] == prefix
                ]
                continue
            store = self.store(sobject.name)
            ops = [Op("delete", id=i) for i in ids if i[:3] == prefix]
            results += [_result(o) for o in store.apply(ops, all_or_none)]
        return results

    # --- single rows (what simple-salesforce's sf.Account.get/create/update/delete use) ---------
    def row_create(self, request: Request) -> Any:
        store = self.store(request.params["obj"])
        outcome = store.apply([Op("create", self._values(store, request.json() or {}))])[0]
        if not outcome.success:
            raise HttpError(
                400,
                [
                    {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                    for e in outcome.errors
                ],
            )
        return Response(201, {"id": outcome.id, "success": True, "errors": []})

    def row_get(self, request: Request) -> Any:
        store = self.store(request.params["obj"])
        index = store.index_of(request.params["id"])
        record = store.get(index) if index is not None else None
        if record is None or record["IsDeleted"]:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return self.record_json(store, index, list(store.sobject.fields), request.params["version"])

    def row_update(self, request: Request) -> Any:
        store = self.store(request.params["obj"])
        op = Op("update", self._values(store, request.json() or {}, drop=("Id",)), id=request.params["id"])
        outcome = store.apply([op])[0]
        if not outcome.success:
            raise HttpError(
                400,
                [
                    {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                    for e in outcome.errors
                ],
            )
        return Response(204)

    def row_delete(self, request: Request) -> Any:
        store = self.store(request.params["obj"])
        outcome = store.apply([Op("delete", id=request.params["id"])])[0]
        if not outcome.success:
            raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return Response(204)


def _result(outcome: Outcome, upsert: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": outcome.id, "success": outcome.success, "errors": outcome.errors}
    if outcome.id is None:
        del out["id"]
    if upsert:
        out["created"] = outcome.created
    return out


def _batch_size(options: str) -> int:
    match = re.search(r"batchSize=(\d+)", options)
    return min(max(int(match.group(1)), 200), QUERY_BATCH_SIZE) if match else QUERY_BATCH_SIZE


def _xml_text(body: str, tag: str) -> str:
    match = re.search(rf"<(?:\w+:)?{tag}>(.*?)</(?:\w+:)?{tag}>", body, re.S)
    return match.group(1) if match else ""


def _soap_fault(code: str, message: str) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {html.escape(message)}</faultstring><detail>"
        f'<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{html.escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, xml, content_type="text/xml; charset=utf-8")
