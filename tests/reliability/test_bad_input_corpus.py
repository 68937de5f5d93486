"""A corpus of bad CRM values (data files): each loads or is quarantined with a reason; none stops a chunk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from crmsync import page
from crmsync.connectors.base import ExternalRecord
from crmsync.models import Client, QuarantineRecord
from crmsync.sync import pull
from crmsync.sync.context import open_context
from crmsync.validation import validate

CORPUS = Path(__file__).parent / "corpus"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_the_hubspot_company_corpus_loads_or_quarantines_record_by_record(any_store, crmsync_home):
    cases = json.loads((CORPUS / "hubspot_companies.json").read_text())
    page.connect(any_store, "hubspot")
    ctx = open_context(any_store, "hubspot", "clients")
    records = [
        ExternalRecord(str(i), T0 + timedelta(seconds=i), case["values"]) for i, case in enumerate(cases)
    ]
    chunk = pull.PullChunk(pull.records_frame(records, ctx.plan.read_fields()), {}, None)
    rows = pull.transform(ctx.plan, chunk)
    checked = validate(rows, "clients", "pull")
    batch, _ = pull.decide_pull(any_store, ctx.plan, chunk, checked.valid, checked.failures)
    any_store.state.apply_pull(ctx.scope, batch, "run")
    with any_store.session() as s:
        loaded = {c.name for c in s.exec(select(Client))}
        kept = {q.record_key: q.reason for q in s.exec(select(QuarantineRecord))}
    for i, case in enumerate(cases):
        if case["loads"]:
            assert case["values"]["name"] in loaded, case["case"]
        else:
            assert str(i) in kept, case["case"]
            assert "\x00" not in kept[str(i)]
