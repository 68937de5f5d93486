"""Fill the HubSpot sandbox from ``crmsync.sandbox.seed``: the same data at any size, streamed.

Rows are generated one at a time straight into the stores, so a million-record seed holds
the records and their indexes, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from crmsync.sandbox import seed
from crmsync.sandbox.hubspot.associations import AssociationStore
from crmsync.sandbox.hubspot.store import ObjectStore, iso

_DAY_MS = 86_400_000

Row = tuple[dict[str, str], int, int]  # properties, created ms, modified ms


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _day_ms(day: date) -> int:
    return _ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _row(props: dict[str, object], modified: datetime) -> Row:
    clean = {k: str(v) for k, v in props.items() if v is not None and v != ""}
    modified_ms = _ms(modified)
    return clean, modified_ms - _DAY_MS, modified_ms


def company_rows(count: int) -> Iterator[Row]:
    """Seeded companies; every 10th carries a legacy clientsuccess_id."""
    for i in range(count):
        c = seed.company(i)
        yield _row(
            {
                "name": c["name"],
                "domain": c["domain"],
                "industry": c["industry"],
                "numberofemployees": c["employees"],
                "annualrevenue": c["annual_revenue"],
                "phone": c["phone"],
                "clientsuccess_status": c["status"],
                "clientsuccess_id": c["legacy_cs_id"],
            },
            c["modified_at"],
        )


def contact_rows(count: int, companies: int) -> Iterator[tuple[Row, int | None]]:
    """Seeded contacts, each with the index of its company."""
    for i in range(count):
        p = seed.person(i, companies)
        props = {
            "firstname": p["first_name"],
            "lastname": p["last_name"],
            "email": p["email"],
            "phone": p["phone"],
            "jobtitle": p["title"],
        }
        yield _row(props, p["modified_at"]), p["company_index"]


def deal_rows(count: int, companies: int) -> Iterator[tuple[Row, int | None]]:
    """Seeded deals, each with the index of its company."""
    for i in range(count):
        d = seed.deal(i, companies)
        props = {
            "dealname": d["name"],
            "amount": d["amount"],
            "closedate": iso(_day_ms(d["close_date"])),
            "dealstage": d["stage"],
            "pipeline": "default",
            "clientsuccess_id": d["legacy_cs_id"],
        }
        yield _row(props, d["modified_at"]), d["company_index"]


def seed_stores(
    stores: dict[str, ObjectStore], associations: AssociationStore, companies: int, contacts: int, deals: int
) -> None:
    """Seed all three types; contacts and deals get a Primary association with their company."""
    company_ids = stores["companies"].seed(company_rows(companies))
    for child_type, rows in (
        ("contacts", contact_rows(contacts, companies)),
        ("deals", deal_rows(deals, companies)),
    ):
        parents: list[int | None] = []

        def plain(
            pairs: Iterator[tuple[Row, int | None]], parents: list[int | None] = parents
        ) -> Iterator[Row]:
            for row, company_index in pairs:
                parents.append(company_index)
                yield row

        child_ids = stores[child_type].seed(plain(rows))
        for child_id, company_index in zip(child_ids, parents, strict=True):
            if company_index is not None:
                associations.link(child_type, child_id, company_ids[company_index], primary=True)
