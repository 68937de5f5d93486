"""Bulk API 2.0 in the sandbox: CSV ingest jobs and query jobs, processed as soon as they can be."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crmsync.sandbox.http import HttpError, Request, Response
from crmsync.sandbox.salesforce import query, schema
from crmsync.sandbox.salesforce.store import ObjectStore, Op

if TYPE_CHECKING:
    from crmsync.sandbox.salesforce.app import SalesforceApp

V = r"/services/data/v(?P<version>\d+\.\d)"
JOB = r"(?P<job>750\w{12,15})"
INGEST_CHUNK = 200  # records per transaction while a job is processed (one timestamp per chunk)
DEFAULT_MAX_RECORDS = 100_000  # results page size when the client does not send maxRecords
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
NULL = "#N/A"  # Bulk CSV: an empty cell leaves a field alone, #N/A sets it to null


def sf_error(status: int, code: str, message: str) -> HttpError:
    """The REST API's error body: a list with one {message, errorCode}."""
    return HttpError(status, [{"message": message, "errorCode": code}])


@dataclass
class Job:
    """One ingest or query job and what it produced."""

    id: str
    kind: str  # ingest | query
    operation: str
    store: ObjectStore
    version: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id: str | None = None
    state: str = "Open"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    uploads: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    ok: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    error: str | None = None
    fields: list[str] = field(default_factory=list)  # query jobs: selected fields
    refs: list[int] = field(default_factory=list)  # query jobs: matching record indexes

    def info(self) -> dict[str, Any]:
        stamp = schema.format_datetime(self.created)
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.store.sobject.name,
            "createdById": "005Dn000000000001AAA",
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if self.kind == "ingest":
            out.update(
                jobType="V2Ingest",
                externalIdFieldName=self.external_id,
                contentUrl=f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
                numberRecordsProcessed=len(self.ok) + len(self.failed),
                numberRecordsFailed=len(self.failed),
                apiActiveProcessingTime=0,
                apexProcessingTime=0,
            )
        else:
            out.update(jobType="V2Query", numberRecordsProcessed=len(self.refs), isPkChunkingSupported=True)
        if self.error:
            out["errorMessage"] = self.error
        return out

    def csv(self, header: list[str], rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[self.delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue().encode()


class BulkJobs:
    """The /jobs/ingest and /jobs/query resources of one sandbox app."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.ingest_jobs: dict[str, Job] = {}
        self.query_jobs: dict[str, Job] = {}
        r = app.route
        r("POST", rf"{V}/jobs/ingest/?", "bulk:ingest:create", self.create_ingest)
        r("PUT", rf"{V}/jobs/ingest/{JOB}/batches/?", "bulk:ingest:upload", self.upload)
        r("PATCH", rf"{V}/jobs/ingest/{JOB}/?", "bulk:ingest:state", self.ingest_state)
        r(
            "GET",
            rf"{V}/jobs/ingest/{JOB}/?",
            "bulk:ingest:get",
            lambda q: self._job(self.ingest_jobs, q).info(),
        )
        r(
            "DELETE",
            rf"{V}/jobs/ingest/{JOB}/?",
            "bulk:ingest:delete",
            lambda q: self._delete(self.ingest_jobs, q),
        )
        r(
            "GET",
            rf"{V}/jobs/ingest/{JOB}/(?P<kind>successfulResults|failedResults|unprocessedrecords)/?",
            "bulk:ingest:results",
            self.ingest_results,
        )
        r("POST", rf"{V}/jobs/query/?", "bulk:query:create", self.create_query)
        r("GET", rf"{V}/jobs/query/{JOB}/?", "bulk:query:get", lambda q: self._job(self.query_jobs, q).info())
        r("PATCH", rf"{V}/jobs/query/{JOB}/?", "bulk:query:state", self.query_state)
        r(
            "DELETE",
            rf"{V}/jobs/query/{JOB}/?",
            "bulk:query:delete",
            lambda q: self._delete(self.query_jobs, q),
        )
        r("GET", rf"{V}/jobs/query/{JOB}/results/?", "bulk:query:results", self.query_results)

    def _job(self, jobs: dict[str, Job], request: Request) -> Job:
        job = jobs.get(request.params["job"])
        if job is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _delete(self, jobs: dict[str, Job], request: Request) -> Response:
        jobs.pop(self._job(jobs, request).id)
        return Response(204)

    def _options(self, body: dict[str, Any]) -> tuple[str, str]:
        delimiter, line_ending = body.get("columnDelimiter") or "COMMA", body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise sf_error(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        if (body.get("contentType") or "CSV") != "CSV":
            raise sf_error(400, "INVALIDJOB", "Bulk API 2.0 only supports contentType CSV")
        return delimiter, line_ending

    # --- ingest ------------------------------------------------------------------------------
    def create_ingest(self, request: Request) -> Any:
        body = request.json() or {}
        store = self.app.store(str(body.get("object") or ""))
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise sf_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            f = store.sobject.field(str(external or ""))
            if f is None or not (f.external_id or f.name == "Id"):
                raise sf_error(400, "INVALIDJOB", f"The external ID field {external} is not valid for upsert")
            external = f.name
        delimiter, line_ending = self._options(body)
        job = Job(
            self.app.new_id("750"),
            "ingest",
            operation,
            store,
            request.params["version"],
            delimiter,
            line_ending,
            external,
        )
        self.ingest_jobs[job.id] = job
        return job.info()

    def upload(self, request: Request) -> Response:
        job = self._job(self.ingest_jobs, request)
        if job.state != "Open":
            raise sf_error(
                409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads (state {job.state})"
            )
        if "csv" not in request.headers.get("content-type", ""):
            raise sf_error(400, "INVALIDBATCH", "Content-Type must be text/csv")
        job.uploads.append(request.body.decode("utf-8"))
        return Response(201)

    def ingest_state(self, request: Request) -> Any:
        job = self._job(self.ingest_jobs, request)
        state = (request.json() or {}).get("state")
        if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
        elif state == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
            answer = job.info()  # Salesforce answers with the state just set, then processes
            self._process(job)
            return answer
        else:
            raise sf_error(409, "INVALIDJOBSTATE", f"Cannot change job from {job.state} to {state}")
        return job.info()

    def _process(self, job: Job) -> None:
        try:
            rows = [row for text in job.uploads for row in self._rows(job, text)]
        except HttpError as exc:
            job.state, job.error = "Failed", exc.body[0]["message"]
            return
        for start in range(0, len(rows), INGEST_CHUNK):
            chunk = rows[start : start + INGEST_CHUNK]
            outcomes = job.store.apply([op for op, _ in chunk])
            for (_, raw), outcome in zip(chunk, outcomes, strict=True):
                if outcome.success:
                    job.ok.append([outcome.id or "", "true" if outcome.created else "false", *raw])
                else:
                    errors = " ".join(
                        f"{e['statusCode']}:{e['message']}:{','.join(e['fields'])} --" for e in outcome.errors
                    )
                    job.failed.append(["", errors, *raw])
        job.state = "JobComplete"

    def _rows(self, job: Job, text: str) -> list[tuple[Op, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter])
        header = next(reader, [])
        names = []
        for column in header:
            f = job.store.sobject.field(column.strip())
            if f is None:
                raise sf_error(400, "INVALIDBATCH", f"InvalidBatch : Field name not found : {column}")
            names.append(f.name)
        job.header = job.header or header
        out = []
        for raw in reader:
            if not any(raw):
                continue
            values = {n: (None if v == NULL else v) for n, v in zip(names, raw, strict=False) if v != ""}
            out.append((self._op(job, values), raw))
        return out

    def _op(self, job: Job, values: dict[str, Any]) -> Op:
        record_id = values.pop("Id", None)
        if job.operation in ("delete", "hardDelete"):
            return Op("delete", id=record_id or "")
        if job.operation == "update" or (job.operation == "upsert" and job.external_id == "Id" and record_id):
            return Op("update", values, id=record_id or "")
        if job.operation == "upsert" and job.external_id != "Id":
            return Op("upsert", values)
        return Op("create", values)

    def ingest_results(self, request: Request) -> Response:
        job = self._job(self.ingest_jobs, request)
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise sf_error(409, "INVALIDJOBSTATE", "Results are available once the job has completed")
        kind = request.params["kind"]
        if kind == "successfulResults":
            body = job.csv(["sf__Id", "sf__Created", *job.header], job.ok)
        elif kind == "failedResults":
            body = job.csv(["sf__Id", "sf__Error", *job.header], job.failed)
        else:
            body = job.csv(job.header, [])
        return Response(200, body, content_type="text/csv")

    # --- query -------------------------------------------------------------------------------
    def create_query(self, request: Request) -> Any:
        body = request.json() or {}
        operation = body.get("operation") or "query"
        if operation not in ("query", "queryAll"):
            raise sf_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
        delimiter, line_ending = self._options(body)
        store, bound = self.app.prepare(str(body.get("query") or ""))
        if bound.fields is None or bound.offset is not None:
            raise sf_error(
                400, "API_ERROR", "Aggregate functions and OFFSET are not supported by Bulk API 2.0 query"
            )
        job = Job(
            self.app.new_id("750"),
            "query",
            operation,
            store,
            request.params["version"],
            delimiter,
            line_ending,
            state="UploadComplete",
            fields=bound.fields,
        )
        answer = job.info()
        job.refs = query.run(store, bound, include_deleted=operation == "queryAll", pk_order=True)
        job.state = "JobComplete"
        self.query_jobs[job.id] = job
        return answer

    def query_state(self, request: Request) -> Any:
        job = self._job(self.query_jobs, request)
        if (request.json() or {}).get("state") != "Aborted":
            raise sf_error(400, "INVALIDJOBSTATE", "Only Aborted can be set on a query job")
        if job.state != "JobComplete":
            job.state = "Aborted"
        return job.info()

    def query_results(self, request: Request) -> Response:
        job = self._job(self.query_jobs, request)
        if job.state != "JobComplete":
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is not complete (state {job.state})")
        try:
            size = int(request.arg("maxRecords") or DEFAULT_MAX_RECORDS)
            offset = (
                int(base64.b64decode(request.arg("locator") or "MA==").decode())
                if request.arg("locator")
                else 0
            )
        except ValueError:
            raise sf_error(400, "INVALIDLOCATOR", "Invalid locator or maxRecords") from None
        chunk = job.refs[offset : offset + size]
        sobject = job.store.sobject
        rows = []
        for index in chunk:
            record = job.store.get(index) or {}
            rows.append([schema.to_csv(sobject.fields[n], record.get(n)) for n in job.fields])
        more = offset + size < len(job.refs)
        locator = base64.b64encode(str(offset + size).encode()).decode() if more else "null"
        headers = {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(chunk))}
        return Response(200, job.csv(job.fields, rows), headers, content_type="text/csv")
