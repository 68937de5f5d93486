"""A response cut off mid-body (a dropped connection, broken JSON) is retried like any transient failure."""

from __future__ import annotations

import pytest

from crmsync.connectors.base import Cursor

FIELDS = ["name"]


def _names(connector, obj: str) -> list[tuple[str, object]]:
    pages = connector.read_changed(obj, FIELDS, Cursor())
    return [(r.id, r.values.get("name")) for p in pages for r in p.records]


@pytest.mark.parametrize("mode", ["reset", "json"])
def test_a_cut_hubspot_search_answer_is_read_again(mode, hubspot_sandbox_factory, hubspot_connector_factory):
    sandbox = hubspot_sandbox_factory(companies=900)
    connector = hubspot_connector_factory()
    expected = _names(connector, "companies")
    faults = sandbox.app.faults
    faults.cut_every, faults.cut_mode, faults.cut_only = 2, mode, "search:"
    assert _names(connector, "companies") == expected
    assert sandbox.app.counters["search:companies:cut"] > 0


@pytest.mark.parametrize("mode", ["reset", "json"])
def test_a_cut_hubspot_association_answer_is_read_again(mode, hubspot_sandbox, hubspot_connector):
    contacts = [r for p in hubspot_connector.read_changed("contacts", ["email"], Cursor()) for r in p.records]
    expected = hubspot_connector.read_parents("contacts", contacts)
    faults = hubspot_sandbox.app.faults
    faults.cut_mode, faults.cut_only = mode, "associations"
    faults.cut_every = hubspot_sandbox.app._seen + 1  # the next request is cut, its retry is not
    assert hubspot_connector.read_parents("contacts", contacts) == expected
    assert hubspot_sandbox.app.counters["associations_batch_read:cut"] == 1


@pytest.mark.parametrize("mode", ["reset", "json"])
def test_a_cut_salesforce_query_answer_is_read_again(mode, salesforce_sandbox, salesforce_connector):
    def names() -> list[tuple[str, object]]:
        pages = salesforce_connector.read_changed("Account", ["Name"], Cursor())
        return [(r.id, r.values.get("Name")) for p in pages for r in p.records]

    expected = names()
    app = salesforce_sandbox.app
    app.faults.cut_mode, app.faults.cut_only = mode, "query"
    app.faults.cut_every = app._seen + 1  # the next query is cut, its retry is not
    assert names() == expected
    assert app.counters["query:cut"] == 1
