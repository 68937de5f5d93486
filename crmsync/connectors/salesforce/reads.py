"""Reading: REST query batches that follow nextRecordsUrl, and Bulk API 2.0 query jobs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from crmsync.connectors.base import Cursor, ExternalRecord, Page
from crmsync.connectors.salesforce.client import SalesforceClient
from crmsync.connectors.salesforce.settings import BULK_QUERY_PAGE_SIZE, CURSOR_FIELD
from crmsync.connectors.salesforce.soql import from_csv, to_record


def query_batches(
    client: SalesforceClient, obj: str, soql: str, batch_size: int, include_deleted: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Raw record batches of a REST query (queryAll with ``include_deleted``); each call retried alone."""
    for result in query_results(client, obj, soql, batch_size, include_deleted):
        yield result["records"]


def query_results(
    client: SalesforceClient, obj: str, soql: str, batch_size: int, include_deleted: bool = False
) -> Iterator[dict[str, Any]]:
    """Each answer of a REST query (records, totalSize, done), following nextRecordsUrl."""
    # Sforce-Query-Options asks for smaller batches (200..2000); Salesforce's default is 2000.
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
    result = client.call(
        f"query {obj}", lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers)
    )
    while True:
        yield result
        if result["done"]:
            return
        url = result["nextRecordsUrl"]
        result = client.call(
            f"query {obj}", lambda sf, url=url: sf.query_more(url, identifier_is_url=True, headers=headers)
        )


def bulk_changed(
    client: SalesforceClient, obj: str, soql: str, types: dict[str, str], since: Cursor, poll: float
) -> Iterator[Page]:
    """Pages of one Bulk API 2.0 query job; only the last page moves the cursor (see read_changed).

    The SOQL has no ORDER BY: Bulk API 2.0 advises against it (it turns off PK chunking), so rows
    arrive in no useful order. If the job fails it runs again from the start, and (Id,
    SystemModstamp) pairs already yielded are skipped, so a record changed in between still comes.
    """
    seen: set[tuple[str, str]] = set()
    newest, pending = since, None
    # queryAll: deleted records (IsDeleted) come in the same job as the changed ones.
    pages = client.restarting(
        f"bulk query {obj}",
        lambda sf: getattr(sf.bulk2, obj).query_all(soql, max_records=BULK_QUERY_PAGE_SIZE, wait=poll),
    )
    for text in pages:
        records = _new_records(text, types, seen)
        if not records:
            continue
        last = records[-1]
        if newest.modified_at is None or (last.modified_at, last.id) > (newest.modified_at, newest.id):
            newest = Cursor(last.modified_at, last.id)
        if pending is not None:
            yield Page(pending, since)
        pending = records
    if pending is not None:
        yield Page(pending, newest)


def _new_records(text: str, types: dict[str, str], seen: set[tuple[str, str]]) -> list[ExternalRecord]:
    records = []
    for row in csv.DictReader(io.StringIO(text)):
        values = {name: from_csv(types.get(name, ""), cell) for name, cell in row.items()}
        key = (values["Id"], values[CURSOR_FIELD])
        if key not in seen:
            seen.add(key)
            records.append(to_record(values))
    records.sort(key=lambda r: (r.modified_at, r.id))
    return records
