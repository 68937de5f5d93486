"""Per-account API budgets, shared by every run through Prefect global concurrency limits.

Each documented limit of a CRM account ("at most N requests in any W seconds") becomes one
Prefect global concurrency limit with slot decay (a token bucket on the Prefect server), named
after the account, so concurrent runs on any worker draw from the same budget. The bucket
holds ``burst`` slots and refills at ``rate`` per second, chosen so that even a full bucket
spent at once plus everything that refills in a window stays within N:
``burst + rate * (W + lease + SLACK) <= N``.

A run takes slots ``batch`` at a time (one Prefect round trip per batch, not per API call)
and spends them locally; slots not spent within ``lease`` seconds are dropped, which is why
the lease is part of the window above. HubSpot's search limit is taken one slot per search,
just before it.

Budgets are in force when there is a Prefect server to share them through (``PREFECT_API_URL``)
and the CRM is not on loopback (a sandbox has no documented limits); ``CRMSYNC_API_BUDGET=on``
forces them (the tests do), ``off`` turns them off.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crmsync.connectors.base import ConnectorError
from crmsync.connectors.hubspot import settings as hubspot
from crmsync.connectors.salesforce import settings as salesforce
from crmsync.errors import ConfigError

MODE_ENV = "CRMSYNC_API_BUDGET"  # auto (default) | on | off
WAIT_ENV = "CRMSYNC_API_BUDGET_WAIT"  # seconds a call may wait for its budget before the run fails
DEFAULT_WAIT_SECONDS = 900.0
SLACK = 0.5  # seconds between the server granting slots and the request leaving (a round trip, generously)
BURST_SHARE = 5  # a fifth of a limit may go at once; the rest refills across the window


@dataclass(frozen=True)
class Limit:
    """One documented limit: at most ``requests`` in any ``window`` seconds."""

    name: str  # "requests" or "search"
    requests: int
    window: float
    lease: float  # seconds a slot taken ahead may wait before it is spent (0: spent at once)
    searches_only: bool = False

    @property
    def burst(self) -> int:
        """Slots the bucket holds: what may go at once."""
        return min(self.requests, max(2, self.requests // BURST_SHARE))

    @property
    def rate(self) -> float:
        """Slots per second the bucket refills, so that no window can see more than ``requests``."""
        return (self.requests - self.burst) / (self.window + self.lease + SLACK)

    @property
    def batch(self) -> int:
        """Slots taken per round trip to Prefect: what refills within a lease, at least one."""
        return max(1, min(self.burst, math.floor(self.rate * self.lease)))

    def describe(self) -> str:
        every = f"{self.window:g} s" if self.window < 86_400 else f"{self.window / 3600:g} h"
        return f"{self.requests:,} {'searches' if self.searches_only else 'requests'} per {every}"


@dataclass(frozen=True)
class Budget:
    """An account's limits and the names of the Prefect limits that carry them."""

    kind: str
    host: str  # the account's API host (host:port), which names its limits
    limits: tuple[Limit, ...]

    def limit_name(self, limit: Limit) -> str:
        """The global concurrency limit's name, e.g. ``crmsync-budget-hubspot-api-hubapi-com-requests``."""
        return f"crmsync-budget-{self.kind}-{re.sub(r'[^a-z0-9]+', '-', self.host.lower())}-{limit.name}"

    def spend(self, search: bool = False) -> None:
        """Take one request's slots (and a search's, for a search) before the request is sent."""
        for limit in self.limits:
            if search or not limit.searches_only:
                _WALLET.take(self.limit_name(limit), limit)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": f"{self.kind} {self.host}",
            "limits": [
                {
                    "limit": limit.describe(),
                    "prefect_limit": self.limit_name(limit),
                    "burst": limit.burst,
                    "per_second": round(limit.rate, 4),
                    "batch": limit.batch,
                }
                for limit in self.limits
            ],
        }


def _number(env: str, default: float, minimum: float) -> float:
    raw = os.environ.get(env, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{env} {raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{env} {raw!r} is below {minimum:g}")
    return value


def limits_of(kind: str) -> tuple[Limit, ...]:
    """The documented limits of a kind of CRM, with this installation's settings applied."""
    if kind == "hubspot":
        window = hubspot.RATE_LIMIT_WINDOW_SECONDS
        requests = _number(hubspot.REQUESTS_PER_WINDOW_ENV, hubspot.DEFAULT_REQUESTS_PER_WINDOW, 3)
        searches = _number(hubspot.SEARCHES_PER_SECOND_ENV, hubspot.DEFAULT_SEARCHES_PER_SECOND, 3)
        return (
            Limit("requests", int(requests), window, lease=window / 10),
            Limit("search", int(searches), 1.0, lease=0.0, searches_only=True),
        )
    if kind == "salesforce":
        daily = _number(salesforce.DAILY_REQUESTS_ENV, salesforce.DEFAULT_DAILY_REQUESTS, 100)
        share = _number(salesforce.DAILY_SHARE_ENV, salesforce.DEFAULT_DAILY_SHARE, 0.0)
        if share > 1:
            raise ConfigError(f"{salesforce.DAILY_SHARE_ENV} {share:g} is more than the whole allocation (1)")
        return (Limit("requests", max(3, int(daily * share)), 86_400.0, lease=60.0),)
    return ()


def host_of(account: str) -> str:
    """host:port of an account string such as ``hubspot https://api.hubapi.com``."""
    url = account.split(" ", 1)[-1]
    return urlsplit(url if "//" in url else f"https://{url}").netloc or url


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def in_force(host: str) -> tuple[bool, str]:
    """Whether budgets apply to runs against ``host`` here, and why (or why not)."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "on", "off"):
        raise ConfigError(f"{MODE_ENV} {mode!r} is not one of auto, on, off")
    if mode == "off":
        return False, f"off ({MODE_ENV}=off)"
    if not os.environ.get("PREFECT_API_URL") or os.environ.get("CRMSYNC_LOCAL_PREFECT_API"):
        # Prefect's temporary API lives and dies with one command: nothing to share a budget with.
        return False, "not in force: no Prefect server to share it through (PREFECT_API_URL is not set)"
    if mode == "auto" and _loopback(host):
        return False, f"not in force: {host} is a local sandbox ({MODE_ENV}=on enforces it there too)"
    return True, "in force: shared by every run on this Prefect server"


def budget_for(kind: str, account: str) -> Budget:
    """The budget of one account (``kind`` and its API URL, no secret)."""
    return Budget(kind, host_of(account), limits_of(kind))


def default_account(kind: str) -> str:
    """The account the environment points at, without asking a Prefect block or the CRM."""
    if kind == "hubspot":
        return f"hubspot {os.environ.get(hubspot.BASE_URL_ENV) or hubspot.DEFAULT_BASE_URL}"
    return f"{kind} {os.environ.get('SALESFORCE_INSTANCE_URL') or salesforce.DEFAULT_LOGIN_URL}"


def describe(kind: str, account: str | None) -> dict[str, Any] | None:
    """The budget of an account as ``crmsync show`` prints it: its limits and whether they apply.

    ``account`` is the one stored when the integration was connected, else the environment's.
    """
    budget = budget_for(kind, account or default_account(kind))
    if not budget.limits:
        return None
    enforced, why = in_force(budget.host)
    return {**budget.as_dict(), "in_force": enforced, "status": why}


def attach(connector: Any, kind: str) -> None:
    """Give a connector's client its account's budget, when budgets are in force."""
    client = getattr(connector, "_client", None)  # every connector owns one client: the budget sits on it
    account = getattr(connector, "account", "")
    budget = budget_for(kind, account)
    if client is not None and budget.limits and in_force(budget.host)[0]:
        client.budget = budget


@dataclass
class Stats:
    """What budgets cost this process: round trips to Prefect and the seconds spent in them."""

    acquisitions: int = 0
    slots: int = 0
    seconds: float = 0.0
    spent: int = 0

    def reset(self) -> None:
        self.acquisitions = self.slots = self.spent = 0
        self.seconds = 0.0


@dataclass
class _Wallet:
    """Slots this process took ahead, per limit, and until when they may be spent."""

    left: dict[str, tuple[int, float]] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # limits made or checked on the server
    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: Stats = field(default_factory=Stats)

    def take(self, name: str, limit: Limit) -> None:
        with self.lock:  # one thread asks Prefect at a time; the others then find slots left
            count, until = self.left.get(name, (0, 0.0))
            if count > 0 and time.monotonic() < until:
                self.left[name] = (count - 1, until)
                self.stats.spent += 1
                return
            if name not in self.ready:
                _ensure_limit(name, limit)
                self.ready.add(name)
            started = time.perf_counter()
            _acquire(name, limit.batch)
            self.stats.seconds += time.perf_counter() - started
            self.stats.acquisitions += 1
            self.stats.slots += limit.batch
            self.stats.spent += 1
            self.left[name] = (limit.batch - 1, time.monotonic() + limit.lease)


_WALLET = _Wallet()
STATS = _WALLET.stats


def _acquire(name: str, slots: int) -> None:
    from prefect.concurrency.sync import rate_limit

    wait = _number(WAIT_ENV, DEFAULT_WAIT_SECONDS, 1)
    try:
        rate_limit(name, occupy=slots, timeout_seconds=wait, strict=True)
    except TimeoutError:
        raise BudgetExhausted(
            f"API budget {name} had no room for {wait:g} s; other runs on this account used it up"
        ) from None


class BudgetExhausted(ConnectorError):
    """A call waited longer than CRMSYNC_API_BUDGET_WAIT for its account's budget."""


def _ensure_limit(name: str, limit: Limit) -> None:
    """Create the Prefect limit, or bring it in line with the settings (once per process)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    wanted = {"limit": limit.burst, "slot_decay_per_second": limit.rate}
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run made it just now, from the same settings
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, **wanted))
            return
        if current.limit != limit.burst or not math.isclose(current.slot_decay_per_second, limit.rate):
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(**wanted, active=True))
