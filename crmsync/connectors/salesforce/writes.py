"""Writing: sObject Collections upserts/updates of 200, or one Bulk API 2.0 ingest job for volume."""

from __future__ import annotations

import csv
import io
from typing import Any

from simple_salesforce import Salesforce

from crmsync.connectors.base import Rejected, WriteRequest, WriteResult
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.settings import COLLECTION_BATCH_SIZE, EXTERNAL_ID_FIELD, PARENT_FIELD
from crmsync.connectors.salesforce.soql import to_csv, to_json


def record_body(obj: str, mode: str, request: WriteRequest) -> dict[str, Any]:
    """One record as Collections takes it: the key in ClientSuccess_Id__c (upsert) or the Id (update)."""
    body: dict[str, Any] = {"attributes": {"type": obj}}
    body.update({name: to_json(value) for name, value in request.values.items()})
    if mode == "upsert":
        body[EXTERNAL_ID_FIELD] = request.key
    else:
        body["Id"] = request.external_id
    if request.parent_id and obj in PARENT_FIELD:
        body[PARENT_FIELD[obj]] = request.parent_id
    return body


def collections_write(
    client: SalesforceClient, obj: str, mode: str, batch: list[WriteRequest]
) -> list[WriteResult]:
    """PATCH /composite/sobjects[/obj/ClientSuccess_Id__c] in calls of 200, allOrNone false."""
    path = f"composite/sobjects/{obj}/{EXTERNAL_ID_FIELD}" if mode == "upsert" else "composite/sobjects"
    out: list[WriteResult] = []
    for start in range(0, len(batch), COLLECTION_BATCH_SIZE):
        chunk = batch[start : start + COLLECTION_BATCH_SIZE]
        payload = {"allOrNone": False, "records": [record_body(obj, mode, r) for r in chunk]}
        try:
            answers = client.call(
                f"{mode} {obj}", lambda sf, p=payload: sf.restful(path, method="PATCH", json=p)
            )
        except Rejected as exc:  # a 4xx for the whole call (e.g. an unknown field): each record fails with it
            out += [WriteResult(r.key, False, error=str(exc)) for r in chunk]
            continue
        out += [_collection_result(r, a) for r, a in zip(chunk, answers, strict=True)]
    return out


def bulk_write(
    client: SalesforceClient, obj: str, mode: str, batch: list[WriteRequest], poll: float
) -> list[WriteResult]:
    """One Bulk API 2.0 ingest job (upsert on ClientSuccess_Id__c, or update by Id); results by key.

    A failed job is run again as a whole: safe, because upserts match on the external id.
    """
    rows = [{k: to_csv(v) for k, v in record_body(obj, mode, r).items() if k != "attributes"} for r in batch]
    key_column = EXTERNAL_ID_FIELD if mode == "upsert" else "Id"
    keys = {rows[i][key_column]: r.key for i, r in enumerate(batch)}

    def run(sf: Salesforce) -> list[dict[str, Any]]:
        handler = getattr(sf.bulk2, obj)
        if mode == "upsert":
            return handler.upsert(records=rows, external_id_field=EXTERNAL_ID_FIELD, wait=poll)
        return handler.update(records=rows, wait=poll)

    answers: dict[str, WriteResult] = {}
    for job in client.call(f"bulk {mode} {obj}", run):
        job_id = job["job_id"]
        ok = client.call(
            f"bulk results {obj}", lambda sf, j=job_id: getattr(sf.bulk2, obj).get_successful_records(j)
        )
        failed = client.call(
            f"bulk results {obj}", lambda sf, j=job_id: getattr(sf.bulk2, obj).get_failed_records(j)
        )
        for row in csv.DictReader(io.StringIO(ok)):
            key = keys.get(row.get(key_column) or "", "")
            answers[key] = WriteResult(key, True, row["sf__Id"] or None, row.get("sf__Created") == "true")
        for row in csv.DictReader(io.StringIO(failed)):
            key = keys.get(row.get(key_column) or "", "")
            error = row.get("sf__Error") or ""
            answers[key] = WriteResult(key, False, error=_bulk_error(error), details={"bulk_error": error})
    missing = "not processed by the Bulk API job"
    return [answers.get(r.key) or WriteResult(r.key, False, error=missing) for r in batch]


def _bulk_error(text: str) -> str:
    """A Bulk sf__Error ('CODE:message:fields --') as Collections words it: 'CODE: message (fields)'."""
    code, _, rest = text.removesuffix(" --").partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:
        message, fields = fields, ""
    return f"{code}: {message}" + (f" ({fields})" if fields else "") if code else "failed"


def _collection_result(request: WriteRequest, answer: dict[str, Any]) -> WriteResult:
    if answer.get("success"):
        return WriteResult(request.key, True, answer.get("id"), bool(answer.get("created", False)))
    errors = answer.get("errors") or []
    reasons = [
        f"{e.get('statusCode')}: {e.get('message')}"
        + (f" ({', '.join(e['fields'])})" if e.get("fields") else "")
        for e in errors
    ]
    return WriteResult(
        request.key,
        False,
        answer.get("id"),
        error="; ".join(reasons) or "rejected",
        details={"errors": errors},
    )
