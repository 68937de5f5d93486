"""Deterministic, realistic seed data shared by the sandbox servers.

Every record is a pure function of its index, so a sandbox of any size (up to 1M records)
holds only the records themselves and two runs with the same size see the same data.
Timestamps step one second per record, except for a block of ``SHARED_TIMESTAMP_BLOCK``
records that share one timestamp and straddle a 200-record page boundary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

BASE_TIME = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
SHARED_TIMESTAMP_START = 150  # records 150..649 share one timestamp: across the 200 and 400 page edges
SHARED_TIMESTAMP_BLOCK = 500
LEGACY_ID_EVERY = 10  # every 10th company/deal carries a clientsuccess id set long ago by another tool

_ADJECTIVES = (
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Evergreen",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Northwind",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Union",
    "Vertex",
    "Willow",
    "Zenith",
)
_NOUNS = (
    "Analytics",
    "Bakery",
    "Logistics",
    "Health",
    "Robotics",
    "Foods",
    "Energy",
    "Media",
    "Software",
    "Capital",
    "Labs",
    "Motors",
    "Studios",
    "Systems",
    "Travel",
    "Works",
)
INDUSTRIES = (
    "Software",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Finance",
    "Education",
    "Media",
    "Logistics",
)
STATUSES = ("Active", "Trial", "Inactive", "Terminated")
_FIRST = (
    "Ada",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jon",
    "Kemi",
    "Luis",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
)
_LAST = (
    "Abbott",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jones",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Young",
)
_TITLES = (
    "CEO",
    "CTO",
    "VP Customer Success",
    "Head of Operations",
    "Account Manager",
    "Data Engineer",
    "Product Manager",
    "Support Lead",
)
_STAGES = ("appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost")


def modified_at(index: int) -> datetime:
    """The seeded last-modified time of record ``index``: one second apart, except a shared block."""
    if SHARED_TIMESTAMP_START <= index < SHARED_TIMESTAMP_START + SHARED_TIMESTAMP_BLOCK:
        index = SHARED_TIMESTAMP_START
    return BASE_TIME + timedelta(seconds=index)


def _pick(options: tuple[str, ...], index: int, salt: int = 0) -> str:
    return options[(index * 7919 + salt * 104729) % len(options)]


def company(index: int) -> dict:
    """Company / Account number ``index``."""
    name = f"{_pick(_ADJECTIVES, index)} {_pick(_NOUNS, index, 1)} {index}"
    slug = name.lower().replace(" ", "")
    return {
        "name": name,
        "domain": f"{slug}.example.com",
        "industry": _pick(INDUSTRIES, index, 2),
        "employees": 5 + (index * 37) % 5000,
        "annual_revenue": Decimal(100_000 + (index * 7919) % 50_000_000),
        "phone": f"+1-555-{index % 1000:03d}-{(index * 13) % 10000:04d}",
        "status": _pick(STATUSES, index, 3),
        "legacy_cs_id": f"legacy-{index}" if index % LEGACY_ID_EVERY == 0 else None,
        "modified_at": modified_at(index),
    }


def person(index: int, companies: int) -> dict:
    """Contact number ``index``, working at one of ``companies`` companies (None if there are none)."""
    first, last = _pick(_FIRST, index), _pick(_LAST, index, 4)
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}.{index}@example.org".lower(),
        "phone": f"+1-555-{(index * 3) % 1000:03d}-{(index * 17) % 10000:04d}",
        "title": _pick(_TITLES, index, 5),
        "company_index": (index % companies) if companies else None,
        "modified_at": modified_at(index),
    }


def deal(index: int, companies: int) -> dict:
    """Deal / Opportunity number ``index``, for one of ``companies`` companies."""
    return {
        "name": f"{_pick(_NOUNS, index, 6)} renewal {index}",
        "amount": Decimal(1_000 + (index * 4099) % 250_000),
        "close_date": date(2026, 1, 1) + timedelta(days=(index * 11) % 365),
        "stage": _pick(_STAGES, index, 7),
        "company_index": (index % companies) if companies else None,
        "legacy_cs_id": f"legacy-deal-{index}" if index % LEGACY_ID_EVERY == 0 else None,
        "modified_at": modified_at(index),
    }
