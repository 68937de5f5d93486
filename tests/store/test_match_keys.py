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
