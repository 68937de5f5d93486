"""The demo's steps: sandbox CRMs with realistic data, both integrations connected, edits on both sides.

``crmsync demo`` runs them in order and shows what happens; this module does the work and never
imports the CLI. It runs in its own folder (``.crmsync-demo/``: a SQLite store and the field
mappings) so it never touches a real installation's store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmsync.models import QuarantineRecord
    from crmsync.sandbox import Sandboxes
    from crmsync.store import Store

DEMO_HOME = Path(".crmsync-demo")
SIZES = {"companies": 2000, "contacts": 3000, "deals": 1500}
INTEGRATIONS = ("hubspot", "salesforce")


def prepare_home() -> None:
    """An empty demo folder, with CRMSYNC_HOME and CRMSYNC_DATABASE_URL pointing into it."""
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    os.environ["CRMSYNC_HOME"] = str(DEMO_HOME)
    os.environ["CRMSYNC_DATABASE_URL"] = f"sqlite:///{DEMO_HOME / 'crmsync.db'}"


def start_sandboxes() -> Sandboxes:
    """Seed and serve both sandbox CRMs at the demo's sizes; the environment points crmsync at them."""
    from crmsync.sandbox import start_sandboxes as start

    sandboxes = start(**SIZES, ca_file=DEMO_HOME / "salesforce-ca.pem")
    os.environ.update(sandboxes.env)
    return sandboxes


def seed_clientsuccess(store: Store) -> None:
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


def connect_integrations(store: Store) -> None:
    """Connect both CRMs. Both hold deals; subscriptions come from HubSpot's and are only read
    from Salesforce's."""
    from crmsync import page

    for kind in INTEGRATIONS:
        page.connect(store, kind)
    store.settings.set_direction("salesforce", "subscriptions", "pull")


def edit_both_sides(store: Store) -> list[str]:
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


def quarantine_examples(store: Store, per_integration: int = 3) -> list[QuarantineRecord]:
    """A few quarantined records of each integration, with their reasons."""
    return [row for kind in INTEGRATIONS for row in store.state.quarantine_rows(kind, limit=per_integration)]
