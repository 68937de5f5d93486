"""What the reliability tests share: a run server to kill runs in, and the end state of both sides."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from crmsync.models import Client, Contact, QuarantineRecord, RecordLink, Subscription
from crmsync.store import Store

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """How one ``crmsync`` run ended: its exit code, what it counted, and its output."""

    rc: int
    counts: dict[str, int]
    output: str


class RunServer:
    """``tests.reliability.runner_process`` in a subprocess: each ``run`` is one forked ``crmsync`` run."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.runner_process"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self.process.stdout.readline()
        assert "ready" in ready, f"the run server did not start: {ready!r}"
        self.runs = 0

    def run(self, *argv: str, fault: str | None = None, env: dict[str, str] | None = None) -> Run:
        self.runs += 1
        log = self.logs / f"run-{self.runs:03d}.log"
        request = {"argv": list(argv), "fault": fault, "log": str(log), "env": env or {}}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return Run(answer["rc"], answer["counts"], log.read_text(errors="replace") if log.exists() else "")

    def close(self) -> None:
        if self.process.stdin.closed:
            return
        self.process.stdin.close()
        self.process.wait(timeout=30)


def server_env(prefect_api: str) -> dict[str, str]:
    """The environment of a run server: this test's (store, CRM, home) plus the session's Prefect API."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(ROOT)}
    env.pop("CRMSYNC_CRASH_AT", None)
    return env


@dataclass
class Expected:
    """The end state both sides must reach: each record once, by its name (clients, subscriptions)
    or email (contacts), with the last value written of each tracked field."""

    clients: Counter = field(default_factory=Counter)
    contacts: Counter = field(default_factory=Counter)
    subscriptions: Counter = field(default_factory=Counter)
    phones: dict[str, str] = field(default_factory=dict)  # client name -> phone, both sides


def cs_state(store: Store) -> dict[str, Counter]:
    """ClientSuccess's records as multisets of their names / emails."""
    with store.session() as s:
        return {
            "clients": Counter(c.name for c in s.exec(select(Client))),
            "contacts": Counter(c.email for c in s.exec(select(Contact))),
            "subscriptions": Counter(x.name for x in s.exec(select(Subscription))),
        }


def crm_state(crm: Any) -> dict[str, Counter]:
    """The CRM's live records as multisets of their names / emails, read through its SDK."""
    f = crm.fields
    deal_name = "dealname" if crm.kind == "hubspot" else "Name"
    return {
        "clients": Counter(v[f["name"]] for v in crm.all("clients", [f["name"]]).values()),
        "contacts": Counter(_lower(v[f["email"]]) for v in crm.all("contacts", [f["email"]]).values()),
        "subscriptions": Counter(v[deal_name] for v in crm.all("subscriptions", [deal_name]).values()),
    }


def _lower(value: str | None) -> str:
    return (value or "").lower()


def links(store: Store, integration: str, cs_object: str) -> dict[int, str]:
    with store.session() as s:
        rows = s.exec(
            select(RecordLink).where(RecordLink.integration == integration, RecordLink.cs_object == cs_object)
        )
        return {row.cs_id: row.external_id for row in rows}


def open_quarantine(store: Store) -> list[QuarantineRecord]:
    with store.session() as s:
        return list(s.exec(select(QuarantineRecord).where(QuarantineRecord.replayed_at.is_(None))))


def assert_end_state(store: Store, crm: Any, expected: Expected) -> None:
    """0 lost, 0 duplicated: both sides hold exactly the expected records, each linked once."""
    cs, remote = cs_state(store), crm_state(crm)
    for cs_object in ("clients", "contacts", "subscriptions"):
        want = getattr(expected, cs_object)
        assert _diff(cs[cs_object], want) == {}, f"ClientSuccess {cs_object}: got - expected"
        assert _diff(remote[cs_object], want) == {}, f"{crm.kind} {cs_object}: got - expected"
        linked = links(store, crm.kind, cs_object)
        assert len(linked) == sum(want.values()), f"{cs_object}: every record linked"
        assert len(set(linked.values())) == len(linked), f"{cs_object}: no CRM record linked twice"
    f = crm.fields
    companies = crm.all("clients", [f["name"], "phone" if crm.kind == "hubspot" else "Phone"])
    phone = "phone" if crm.kind == "hubspot" else "Phone"
    with store.session() as s:
        cs_phones = {c.name: c.phone for c in s.exec(select(Client))}
    crm_phones = {v[f["name"]]: v[phone] for v in companies.values()}
    for name, value in expected.phones.items():
        assert (cs_phones[name], crm_phones[name]) == (value, value), name
    assert [(q.cs_object, q.record_key, q.reason) for q in open_quarantine(store)] == []


def _diff(got: Counter, want: Counter) -> dict[str, int]:
    """Records missing (negative) or extra (positive), by key."""
    keys = set(got) | set(want)
    return {k: got[k] - want[k] for k in keys if got[k] != want[k]}


class Workload:
    """One round of changes on both sides, and what the end state must then be."""

    def __init__(self, crm, store: Store, expected: Expected) -> None:
        self.crm, self.store, self.expected = crm, store, expected

    def cs_changes(self, r: int, rng: random.Random) -> None:
        """Two new clients, two new contacts and (HubSpot) a subscription, and a phone edited in CS."""
        clients = sorted(links(self.store, self.crm.kind, "clients"))
        with self.store.session() as s:
            for j in range(2):
                name = f"K{r} CS client {j}"
                s.add(Client(name=name, domain=f"k{r}-cs-{j}.example.net", status="Active"))
                self.expected.clients[name] += 1
                email = f"k{r}-contact-{j}@example.net"
                client = rng.choice(clients)
                s.add(Contact(client_id=client, first_name=f"K{r}", last_name=f"C{j}", email=email))
                self.expected.contacts[email] += 1
            if self.crm.kind == "hubspot":  # a new Opportunity needs a StageName, which is pull-only
                s.add(Subscription(client_id=rng.choice(clients), name=f"K{r} plan", amount=100 + r))
                self.expected.subscriptions[f"K{r} plan"] += 1
            edited = s.get(Client, rng.choice(clients))
            s.exec(sa.update(Client).where(Client.id == edited.id).values(phone=f"+1 555 01{r:02d}"))
            self.expected.phones[edited.name] = f"+1 555 01{r:02d}"

    def crm_changes(self, r: int, rng: random.Random) -> None:
        """A company / Account made in the CRM, and another one's phone edited there."""
        name = f"K{r} CRM client"
        if self.crm.kind == "hubspot":
            app = self.crm.running.app
            app.store("companies").create(
                {"name": name, "domain": f"k{r}-crm.example.org", "phone": "+1 555 0000"}, app.now_ms()
            )
        else:
            from crmsync.sandbox.salesforce.store import Op

            org = self.crm.running.sf.org
            values = {"Name": name, "Website": f"https://k{r}-crm.example.org", "Phone": "+1 555 0000"}
            [outcome] = org.store("Account").apply([Op("create", values)])
            assert outcome.success, outcome.errors
        self.expected.clients[name] += 1
        self.expected.phones[name] = "+1 555 0000"
        linked = links(self.store, self.crm.kind, "clients")
        with self.store.session() as s:
            names = {c.id: c.name for c in s.exec(select(Client))}
        mine = [cs_id for cs_id in sorted(linked) if names[cs_id] not in self.expected.phones]
        cs_id = rng.choice(mine)
        phone = "phone" if self.crm.kind == "hubspot" else "Phone"
        self.crm.edit("clients", linked[cs_id], {phone: f"+1 555 02{r:02d}"})
        self.expected.phones[names[cs_id]] = f"+1 555 02{r:02d}"
