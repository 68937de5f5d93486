"""dlt's ``rest_api`` source pulling HubSpot companies, contacts and deals into SQLite.

Runs in dlt's own environment (``bench/.venv-dlt``, pinned in ``bench/requirements-dlt.txt``),
never in crmsync's. Configured as a dlt user would against HubSpot's CRM v3 list endpoints:
``GET /crm/v3/objects/{object}?limit=100&properties=...&associations=companies`` with the
``paging.next.after`` cursor, bearer auth, ``merge`` on ``id`` and an ``updatedAt``
incremental (the list endpoint cannot filter by date, so dlt filters client-side: a second
run reads every page again and loads nothing). Each child's associations become one
``company_id`` column (the Primary company, else the lowest id), as crmsync keeps one parent.

Usage: ``python bench/dlt_hubspot.py WORKDIR`` with HUBSPOT_BASE_URL and HUBSPOT_ACCESS_TOKEN
set. The destination is ``sqlalchemy`` on ``WORKDIR/dlt.db``; the pipeline's state lives in
``WORKDIR/pipelines``. Prints one JSON line: seconds per step and the rows in each table.
"""

# ruff: noqa: S608 - table names come from dlt's own schema, not from input

from __future__ import annotations

import json
import os
import sys
import time

# No telemetry (there is no network here) and quiet logs; before dlt is imported.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

started = time.perf_counter()
import dlt  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - started

# The same properties crmsync reads for each object (its mapped pull fields, key and match
# fields), plus the id and last-modified date it always asks for.
PROPERTIES = {
    "companies": "name,domain,clientsuccess_status,industry,numberofemployees,annualrevenue,phone,"
    "clientsuccess_id,hs_object_id,hs_lastmodifieddate",
    "contacts": "firstname,lastname,email,phone,jobtitle,hs_object_id,lastmodifieddate",
    "deals": "dealname,amount,closedate,dealstage,clientsuccess_id,hs_object_id,hs_lastmodifieddate",
}


def company_id(record: dict) -> dict:
    """One parent per child: the Primary company association, else the lowest company id."""
    associations = record.pop("associations", None) or {}
    found = (associations.get("companies") or {}).get("results") or []
    primary = [a["id"] for a in found if not a.get("type", "").endswith("_unlabeled")]
    ids = primary or sorted((a["id"] for a in found), key=lambda i: (len(i), i))
    record["company_id"] = ids[0] if ids else None
    return record


def source(base_url: str, token: str):
    def resource(name: str, with_company: bool) -> dict:
        params = {"properties": PROPERTIES[name]}
        if with_company:
            params["associations"] = "companies"
        config: dict = {"name": name, "endpoint": {"path": f"crm/v3/objects/{name}", "params": params}}
        if with_company:
            config["processing_steps"] = [{"map": company_id}]
        return config

    return rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/",
                "auth": {"type": "bearer", "token": token},
                "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"},
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "data_selector": "results",
                    "params": {"limit": 100, "archived": "false"},
                    "incremental": {"cursor_path": "updatedAt", "initial_value": "1970-01-01T00:00:00Z"},
                },
            },
            "resources": [
                resource("companies", False),
                resource("contacts", True),
                resource("deals", True),
            ],
        },
        name="hubspot",
    )


def main() -> None:
    workdir = sys.argv[1]
    db_url = f"sqlite:///{os.path.join(workdir, 'dlt.db')}"
    pipeline = dlt.pipeline(
        pipeline_name="hubspot_bench",
        destination=dlt.destinations.sqlalchemy(credentials=db_url),
        dataset_name="hubspot",
        pipelines_dir=os.path.join(workdir, "pipelines"),
        progress="log" if os.environ.get("BENCH_DLT_PROGRESS") else None,
    )
    seconds = {"import": IMPORT_SECONDS}
    t = time.perf_counter()
    pipeline.extract(source(os.environ["HUBSPOT_BASE_URL"], os.environ["HUBSPOT_ACCESS_TOKEN"]))
    seconds["extract"] = time.perf_counter() - t
    t = time.perf_counter()
    pipeline.normalize()
    seconds["normalize"] = time.perf_counter() - t
    t = time.perf_counter()
    pipeline.load()
    seconds["load"] = time.perf_counter() - t

    rows, with_company = {}, {}
    with pipeline.sql_client() as client:
        for table in ("companies", "contacts", "deals"):
            name = client.make_qualified_table_name(table)
            try:
                rows[table] = client.execute_sql(f"SELECT COUNT(*) FROM {name}")[0][0]
            except Exception:  # a table that never loaded counts as empty
                rows[table] = 0
                continue
            if table != "companies":
                query = f"SELECT COUNT(*) FROM {name} WHERE company_id IS NOT NULL"
                with_company[table] = client.execute_sql(query)[0][0]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": rows,
                "with_company": with_company,
                "versions": {"dlt": dlt.__version__, "sqlalchemy": sa.__version__},
            }
        )
    )


if __name__ == "__main__":
    main()
