"""The bad-input corpus (corpus/records.yaml) through real syncs, per CRM and store.

Every case is one record among the seeded ones: it loads with the right values or is
quarantined with a reason that names the field; the rest of its chunk loads, the run completes,
and the next run completes and loads a new record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import select

from crmsync import page
from crmsync.connectors import key_field
from crmsync.models import CS_MODELS, QuarantineRecord
from crmsync.store import Store
from flows.sync import sync_integration
from tests.reliability.helpers import links

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "records.yaml").read_text(encoding="utf-8"))
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SEEDED = {"clients": 40, "contacts": 60, "subscriptions": 30}


def test_the_corpus_has_at_least_40_kinds_of_bad_input():
    cases = CORPUS["pull"] + CORPUS["push"]
    assert len({c["case"] for c in cases}) == len(cases) >= 40
    for kind in ("hubspot", "salesforce"):
        assert sum(_expect(c, kind) == "quarantine" for c in cases) >= 25


def _fields(kind: str) -> dict[str, dict[str, str]]:
    """CS object -> CS field -> CRM field, from the default mapping's first entry per object."""
    spec = yaml.safe_load((MAPPINGS / f"{kind}.yaml").read_text())
    out: dict[str, dict[str, str]] = {}
    for obj in spec["objects"]:
        out.setdefault(
            obj["cs_object"],
            {"$object": obj["external_object"]} | {f["cs"]: f["external"] for f in obj["fields"]},
        )
    return out


class Sandbox:
    """Writes raw records into a sandbox CRM, bypassing its validation (a CRM may send anything)."""

    def __init__(self, crm) -> None:
        self.crm, self.fields = crm, _fields(crm.kind)

    def values(self, cs_object: str, case_values: dict[str, Any]) -> tuple[dict[str, Any], str]:
        m = self.fields[cs_object]
        out = {}
        for name, value in case_values.items():
            if name == "$key":
                out[key_field(self.crm.kind, m["$object"])] = value
            elif not name.startswith("$"):
                out[m[name]] = value
        return out, case_values.get("$parent", "seeded")

    def write(self, cs_object: str, case_values: dict[str, Any]) -> str:
        values, parent = self.values(cs_object, case_values)
        if self.crm.kind == "hubspot":
            return self._hubspot(cs_object, values, parent)
        return self._salesforce(cs_object, values, parent)

    def _hubspot(self, cs_object: str, values: dict[str, Any], parent: str) -> str:
        app = self.crm.running.app
        obj = self.fields[cs_object]["$object"]
        record = app.store(obj).create({}, app.now_ms())
        record.props.update(values)  # raw: no validation, no normalisation
        if cs_object != "clients" and parent != "none":
            company = min(app.store("companies").live) if parent == "seeded" else 99_999_999_999
            app.associations.link(obj, record.id, company, primary=True)
        return str(record.id)

    def _salesforce(self, cs_object: str, values: dict[str, Any], parent: str) -> str:
        from crmsync.sandbox.salesforce.store import Op

        org = self.crm.running.sf.org
        obj = self.fields[cs_object]["$object"]
        store = org.store(obj)
        placeholder = {"Account": {"Name": "x"}, "Contact": {"LastName": "x"}}.get(
            obj, {"Name": "x", "CloseDate": "2026-01-01", "StageName": "Prospecting"}
        )
        if cs_object != "clients" and parent == "seeded":
            placeholder["AccountId"] = org.store("Account").get(0)["Id"]
        [outcome] = store.apply([Op("create", placeholder)])
        assert outcome.success, outcome.errors
        record = store.records[store.index_of(outcome.id)]
        record.update(values)  # raw: no coercion, no validation
        if cs_object != "clients" and parent == "dangling":
            record["AccountId"] = "001000000009999AAA"
        return outcome.id


def _expect(case: dict, kind: str) -> str:
    """What the case must end as: "load" or "quarantine" (the same for both CRMs, or per CRM)."""
    expect = case["expect"]
    return expect[kind] if isinstance(expect, dict) else expect


def _cs_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _quarantine(store: Store, direction: str) -> dict[tuple[str, str], QuarantineRecord]:
    with store.session() as s:
        rows = s.exec(select(QuarantineRecord).where(QuarantineRecord.direction == direction))
        return {(q.cs_object, q.record_key): q for q in rows}


def _check_pull(store: Store, kind: str, written: dict[str, tuple[dict, str, str | None]]) -> list[str]:
    """Each pulled case as its expectation says; a list of what went wrong."""
    quarantined = _quarantine(store, "pull")
    wrong = []
    for case_name, (case, crm_id, twin_id) in written.items():
        obj = case["object"]
        by_external = {ext: cs_id for cs_id, ext in links(store, kind, obj).items()}
        held = quarantined.get((obj, crm_id))
        if _expect(case, kind) == "quarantine":
            if crm_id in by_external or held is None:
                wrong.append(f"{case_name}: not quarantined (linked: {crm_id in by_external})")
            elif case["reason"] not in held.reason or "\0" in held.reason:
                wrong.append(f"{case_name}: reason {held.reason!r} does not name {case['reason']!r}")
            continue
        if crm_id not in by_external:
            wrong.append(f"{case_name}: not loaded ({held.reason if held else 'no quarantine either'})")
            continue
        with store.session() as s:
            row = s.get(CS_MODELS[obj], by_external[crm_id])
            for field, value in (case.get("cs") or {}).items():
                if _cs_value(getattr(row, field)) != value:
                    wrong.append(f"{case_name}: {field} = {getattr(row, field)!r}, expected {value!r}")
        if twin_id is not None and twin_id in by_external and by_external[twin_id] == by_external[crm_id]:
            wrong.append(f"{case_name}: both twins linked to one record")
    return wrong


def _write_push_cases(store: Store, kind: str) -> dict[str, tuple[dict, int, int | None]]:
    clients = sorted(links(store, kind, "clients"))
    written = {}
    with store.session() as s:
        for case in CORPUS["push"]:
            model = CS_MODELS[case["object"]]
            ids = []
            for values in (case["values"], case.get("twin")):
                if values is None:
                    ids.append(None)
                    continue
                extra = {"client_id": clients[0]} if case["object"] != "clients" else {}
                row = model(**values, **extra)
                s.add(row)
                s.flush()
                ids.append(row.id)
            written[case["case"]] = (case, ids[0], ids[1])
    return written


def _check_push(store: Store, crm, written: dict[str, tuple[dict, int, int | None]]) -> list[str]:
    quarantined = _quarantine(store, "push")
    fields = _fields(crm.kind)
    wrong = []
    for case_name, (case, cs_id, _twin) in written.items():
        obj = case["object"]
        linked = links(store, crm.kind, obj)
        held = quarantined.get((obj, str(cs_id)))
        if _expect(case, crm.kind) == "quarantine":
            if cs_id in linked or held is None:
                wrong.append(f"{case_name}: not quarantined (linked: {cs_id in linked})")
            elif case["reason"] not in held.reason:
                wrong.append(f"{case_name}: reason {held.reason!r} does not name {case['reason']!r}")
            continue
        if cs_id not in linked:
            wrong.append(f"{case_name}: not pushed ({held.reason if held else 'no quarantine either'})")
            continue
        m = fields[obj]
        want = {m[k]: v for k, v in (case.get("crm") or {}).items()}
        [record] = crm.connector.read_by_ids(m["$object"], [linked[cs_id]], list(want))
        got = {k: record.values.get(k) for k in want}
        if got != want:
            wrong.append(f"{case_name}: the CRM holds {got}, expected {want}")
    return wrong


@pytest.mark.timeout(600)
def test_every_corpus_case_loads_or_is_quarantined_and_nothing_blocks(crm, backend):
    store = Store()
    page.connect(store, crm.kind)
    sandbox = Sandbox(crm)
    pulled = {}
    for case in CORPUS["pull"]:
        crm_id = sandbox.write(case["object"], case["values"])
        twin = sandbox.write(case["object"], case["twin"]) if case.get("twin") else None
        pulled[case["case"]] = (case, crm_id, twin)
    first = sync_integration(crm.kind)
    assert [o["status"] for o in first["objects"]] == ["completed"] * 3
    assert _check_pull(store, crm.kind, pulled) == []
    for cs_object, seeded in SEEDED.items():  # the rest of each chunk loaded
        assert len(links(store, crm.kind, cs_object)) >= seeded, cs_object

    pushed = _write_push_cases(store, crm.kind)
    second = sync_integration(crm.kind)
    assert [o["status"] for o in second["objects"]] == ["completed"] * 3
    assert _check_push(store, crm, pushed) == []
    assert _check_pull(store, crm.kind, pulled) == []  # nothing changed its mind

    # Later runs are not blocked: a new record after all of that loads.
    late = sandbox.write("clients", {"name": "Late Co", "domain": "late.example.com"})
    third = sync_integration(crm.kind)
    assert [o["status"] for o in third["objects"]] == ["completed"] * 3
    assert late in set(links(store, crm.kind, "clients").values())
