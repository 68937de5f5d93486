"""Issue 10, item 4: match keys fold case in Python, identically on SQLite and PostgreSQL."""

import pytest
from sqlmodel import select

from crmsync.models import Contact
from crmsync.store.types import Scope

SCOPE = Scope("hubspot", "contacts", "contacts")


@pytest.mark.parametrize(
    ("stored", "pulled"),
    [("ÜMLAUT@example.org", "ümlaut@example.org"), ("STRASSE@example.org", "straße@example.org")],
)
def test_match_keys_fold_unicode_case_on_both_databases(any_store, stored, pulled):
    any_store.settings.connect("hubspot", None, {"contacts": "contacts"})
    with any_store.session() as s:
        s.add(Contact(email="other@example.org"))
        s.add(Contact(email=stored))
    with any_store.session() as s:
        wanted = next(c.id for c in s.exec(select(Contact)) if c.email == stored)
    assert any_store.records.match_keys(SCOPE, "email", [pulled]) == {pulled.casefold(): wanted}


def test_match_key_lookups_use_indexes_not_a_scan_of_the_store(sqlite_store):
    """A chunk's match-key lookup must not read every stored record: the ASCII keys go through
    the folded index, the non-ASCII candidates through the partial index of those rows, and
    "not linked yet" is one index lookup per candidate (SQLite's plan, as the store runs it)."""
    import sqlalchemy as sa

    statements = []
    store = sqlite_store
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2:4]))
    store.settings.connect("hubspot", None, {"contacts": "contacts"})
    store.records.match_keys(SCOPE, "email", ["a@example.org", "ü@example.org"])
    lookups = [(sql, params) for sql, params in statements if "FROM contacts" in sql]
    with store.engine.connect() as conn:
        plans = [
            [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            for sql, params in lookups
        ]
    assert len(plans) == 2
    assert "SEARCH contacts USING INDEX ix_contacts_email_folded (<expr>=?)" in plans[0]
    assert "SCAN contacts USING INDEX ix_contacts_email_non_ascii" in plans[1]
    for plan in plans:
        assert "SCAN contacts" not in plan  # no full scan of the stored contacts
        assert any(step.startswith("SEARCH record_links USING") for step in plan)
        assert not any(step.startswith("SCAN record_links") for step in plan)
