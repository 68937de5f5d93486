"""Pipeline fixtures: one sandbox CRM per test (the Prefect API is tests/fixtures/prefect.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crmsync.connectors.base import Cursor, WriteRequest

WRITE_LABELS = (
    "batch_create",
    "batch_update",
    "batch_upsert",
    "batch_archive",
    "create:",
    "update:",
    "archive:",
    "associations_batch_create",
    "collections:",
    "sobject:create",
    "sobject:update",
    "sobject:delete",
    "ingest",
)


@dataclass
class Crm:
    """One sandbox CRM seen through its connector, with the names a test needs."""

    kind: str
    objects: dict[str, str]  # CS object -> external object
    fields: dict[str, str]  # name, status, email, title, first_name: the CRM's field names
    running: Any

    @property
    def connector(self):
        from crmsync.connectors import open_connector

        return open_connector(self.kind)

    def calls(self) -> int:
        return sum(
            n for label, n in self.running.app.counters.items() if ":429" not in label and ":5xx" not in label
        )

    def write_calls(self) -> int:
        counters = self.running.app.counters
        return sum(n for label, n in counters.items() if label.startswith(WRITE_LABELS) or "ingest" in label)

    def reset(self) -> None:
        self.running.app.reset_counters()

    def all(self, cs_object: str, fields: list[str]) -> dict[str, dict[str, Any]]:
        """Every live record of an object, by id, read through the connector from the beginning."""
        records = {}
        for page in self.connector.read_changed(self.objects[cs_object], fields, Cursor()):
            records.update({r.id: r.values for r in page.records if not r.deleted})
        return records

    def edit(self, cs_object: str, external_id: str, values: dict[str, Any]) -> None:
        [result] = self.connector.write(
            self.objects[cs_object], [WriteRequest(key="edit", values=values, external_id=external_id)]
        )
        assert result.ok, result.error


CRMS = {
    "hubspot": (
        {"clients": "companies", "contacts": "contacts", "subscriptions": "deals"},
        {
            "name": "name",
            "status": "clientsuccess_status",
            "email": "email",
            "title": "jobtitle",
            "first_name": "firstname",
            "domain": "domain",
            "employees": "numberofemployees",
        },
    ),
    "salesforce": (
        {"clients": "Account", "contacts": "Contact", "subscriptions": "Opportunity"},
        {
            "name": "Name",
            "status": "ClientSuccess_Status__c",
            "email": "Email",
            "title": "Title",
            "first_name": "FirstName",
            "domain": "Website",
            "employees": "NumberOfEmployees",
        },
    ),
}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, crmsync_home, monkeypatch) -> str:
    """The store of a pipeline test: the SQLite default, then PostgreSQL (its own schema)."""
    if request.param == "postgres":
        from tests.fixtures.store import postgres_schema_url

        url = postgres_schema_url(request.getfixturevalue("postgres_database"))
        monkeypatch.setenv("CRMSYNC_DATABASE_URL", url.render_as_string(hide_password=False))
    return request.param


def start_crm(kind: str, monkeypatch: pytest.MonkeyPatch, **sizes: int) -> Crm:
    """Seed a sandbox of ``kind`` in-process (companies, contacts, deals) and point the env at it."""
    if kind == "hubspot":
        from crmsync.sandbox.hubspot import DEFAULT_TOKEN, start_hubspot

        running = start_hubspot(**sizes)
        env = {"HUBSPOT_BASE_URL": running.url, "HUBSPOT_ACCESS_TOKEN": DEFAULT_TOKEN}
    else:
        from crmsync.sandbox.salesforce import start_salesforce

        running = start_salesforce(sizes.get("companies", 0), sizes.get("contacts", 0), sizes.get("deals", 0))
        env = running.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    objects, fields = CRMS[kind]
    return Crm(kind, objects, fields, running)


@pytest.fixture(params=sorted(CRMS))
def crm(request, prefect_api, backend, monkeypatch) -> Crm:
    """A seeded sandbox of each kind (40 companies, 60 contacts, 30 deals), env pointed at it."""
    crm = start_crm(request.param, monkeypatch, companies=40, contacts=60, deals=30)
    yield crm
    crm.running.stop()


@pytest.fixture(params=sorted(CRMS))
def small_crm(request, prefect_api, crmsync_home, monkeypatch) -> Iterator[Crm]:
    """A sandbox of each kind with 5 records of each object, a SQLite store, PREFECT_API_URL set."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    crm = start_crm(request.param, monkeypatch, companies=5, contacts=5, deals=5)
    yield crm
    crm.running.stop()


@pytest.fixture(params=sorted(CRMS))
def deployed_crm(request, prefect_api, crmsync_home, monkeypatch) -> Iterator[tuple[Crm, Any]]:
    """A small sandbox of each kind, connected (SQLite store), its deployments on the test server."""
    from crmsync import page
    from crmsync.deploy import reconcile, remove_deployments
    from crmsync.store import Store

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    crm = start_crm(request.param, monkeypatch, companies=5, contacts=5, deals=5)
    store = Store()
    page.connect(store, crm.kind)
    reconcile(store)
    yield crm, store
    remove_deployments(crm.kind)
    crm.running.stop()
