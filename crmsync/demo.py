"""The demo: sandbox CRMs with realistic data, both integrations connected, a full two-way sync.

It runs in its own folder (``.crmsync-demo/``: a SQLite store and the field mappings) so it
never touches a real installation's store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from crmsync.cli import render

DEMO_HOME = Path(".crmsync-demo")
SIZES = {"companies": 2000, "contacts": 3000, "deals": 1500}


def _prepare_home() -> None:
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    os.environ["CRMSYNC_HOME"] = str(DEMO_HOME)
    os.environ["CRMSYNC_DATABASE_URL"] = f"sqlite:///{DEMO_HOME / 'crmsync.db'}"


def _seed_clientsuccess(store) -> None:
    """A few clients that exist only in ClientSuccess, so the sync has something to push.

    One has its status in the wrong case ('trial': resolved to HubSpot's 'Trial'), one has a
    status no CRM knows ('Churned': quarantined with a reason before any API call).
    """
    from crmsync.models import Client, Contact

    with store.session() as s:
        for i in range(1, 21):
            status = {1: "trial", 2: "Churned"}.get(i, "Active")
            client = Client(
                name=f"Northstar Demo {i}",
                domain=f"northstar-demo-{i}.example.net",
                status=status,
                industry="Software",
                employees=40 + i,
                phone=f"+1-555-200-{i:04d}",
            )
            s.add(client)
            s.flush()
            s.add(
                Contact(
                    client_id=client.id,
                    first_name="Dana",
                    last_name=f"Demo{i}",
                    email=f"dana{i}@northstar.example.net",
                )
            )


def _edit_both_sides(store, sandboxes) -> list[str]:
    """One edit in HubSpot and one in ClientSuccess, to show an incremental two-way sync."""
    import sqlalchemy as sa

    from crmsync.connectors import open_connector
    from crmsync.connectors.base import WriteRequest
    from crmsync.models import Client, RecordLink

    with store.session() as s:
        link = (
            s.exec(
                sa.select(RecordLink)
                .where(RecordLink.integration == "hubspot", RecordLink.cs_object == "clients")
                .order_by(RecordLink.cs_id)
                .limit(2)
            )
            .scalars()
            .all()
        )
        first, second = link
        s.exec(sa.update(Client).where(Client.id == second.cs_id).values(status="inactive"))
    open_connector("hubspot").write(
        "companies",
        [
            WriteRequest(
                key=str(first.cs_id), values={"name": "Renamed in HubSpot Inc"}, external_id=first.external_id
            )
        ],
    )
    return [
        f"HubSpot: company {first.external_id} renamed to 'Renamed in HubSpot Inc'",
        f"ClientSuccess: client {second.cs_id} status set to 'inactive' (lower case on purpose)",
    ]


def run_demo() -> None:
    """Start the sandboxes, connect both integrations, sync twice, explain what happened."""
    from rich.panel import Panel

    from crmsync import page
    from crmsync.cli.run_commands import quiet_prefect, run_with_progress
    from crmsync.sandbox import start_sandboxes
    from crmsync.store import Store

    _prepare_home()
    quiet_prefect()
    console = render.console
    console.print(
        Panel.fit(
            "crmsync demo: ClientSuccess ⇄ HubSpot and Salesforce\n"
            "Local sandbox CRMs speak the real wire formats; the official SDKs talk to them over HTTP(S).",
            style="bold",
        )
    )
    with console.status(
        f"Seeding sandbox CRMs ({SIZES['companies']:,} companies, {SIZES['contacts']:,} contacts, "
        f"{SIZES['deals']:,} deals each)…"
    ):
        sandboxes = start_sandboxes(**SIZES, ca_file=DEMO_HOME / "salesforce-ca.pem")
    os.environ.update(sandboxes.env)
    try:
        store = Store()
        _seed_clientsuccess(store)
        for kind in ("hubspot", "salesforce"):
            page.connect(store, kind)
        # Both CRMs hold deals; subscriptions come from HubSpot's and are only read from Salesforce's.
        store.settings.set_direction("salesforce", "subscriptions", "pull")
        console.print(
            "Connected [cyan]hubspot[/] and [cyan]salesforce[/] "
            "(Salesforce subscriptions: Pull from Salesforce); "
            "20 clients exist only in ClientSuccess.\n"
        )
        results: list[dict[str, Any]] = []
        for kind in ("hubspot", "salesforce"):
            result = run_with_progress(kind, None)
            results.append(result)
            console.print(render.run_table(result))
        console.print("\n[bold]Incremental sync after one edit on each side:[/]")
        for line in _edit_both_sides(store, sandboxes):
            console.print(f"  • {line}")
        console.print(render.run_table(run_with_progress("hubspot", ["clients"])))
        _explain(store)
    finally:
        sandboxes.stop()


def _explain(store) -> None:
    console = render.console
    quarantined = store.state.quarantine_rows
    reasons = quarantined("hubspot", limit=3) + quarantined("salesforce", limit=3)
    if reasons:
        console.print("\n[bold]Quarantined (kept with a reason, retried on the next run):[/]")
        for row in reasons:
            console.print(
                f"  • {row.integration} {row.cs_object} {row.direction} {row.record_key}: {row.reason}",
                highlight=False,
            )
    console.print(
        "\n[bold]What happened[/]: each integration pulled its CRM's companies, contacts and deals into "
        "ClientSuccess (linking contacts to their clients), matched records both CRMs share by domain, "
        "and pushed ClientSuccess-only records out. A second run moves only what changed.\n"
        f"Store: {DEMO_HOME / 'crmsync.db'}  ·  field mappings: {DEMO_HOME / 'mappings'}\n"
        "[bold]See the runs in the Prefect UI[/]: [cyan].venv/bin/prefect server start[/] then open "
        "http://127.0.0.1:4200/runs — each integration × object is its own flow run, with a summary artifact."
    )
