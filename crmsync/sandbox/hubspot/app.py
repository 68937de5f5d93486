"""The HubSpot sandbox app: bearer auth, HubSpot's rate-limit answers, and all routes.

Faults come from ``crmsync.sandbox.http``: every K-th request answers 429 (with HubSpot's
body, X-HubSpot-RateLimit-* headers and Retry-After) or 502. A real rolling-window limiter
can be switched on with ``enforce_limits=True``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import wraps

from crmsync.sandbox.http import App, HttpError, Request, Response
from crmsync.sandbox.hubspot import wire
from crmsync.sandbox.hubspot.associations import AssociationRoutes, AssociationStore
from crmsync.sandbox.hubspot.objects import ObjectRoutes
from crmsync.sandbox.hubspot.schema import OBJECT_TYPES
from crmsync.sandbox.hubspot.seeding import seed_stores
from crmsync.sandbox.hubspot.store import ObjectStore

# The sandbox's own well-known token, not a secret; real tokens only ever come from the environment.
DEFAULT_TOKEN = "pat-sandbox-0000"  # noqa: S105
PORTAL_ID = 24681357
# Professional private-app limits (per token): 190 requests / 10 s, search 5 / s, 650k a day.
TEN_SECONDLY_MAX = 190
SEARCH_SECONDLY_MAX = 5
DAILY_MAX = 650_000
_ID_BASES = {"contacts": 10_000_000_000, "companies": 20_000_000_000, "deals": 30_000_000_000}


class RateLimits:
    """Rolling windows of recent requests: reported in headers, enforced only on request."""

    def __init__(self, enforce: bool = False) -> None:
        self.enforce = enforce
        self.recent: deque[float] = deque()
        self.recent_search: deque[float] = deque()
        self.today = 0

    def hit(self, search: bool) -> str | None:
        """Count a request; the exceeded policy name if it must be refused."""
        now = time.monotonic()
        window, cap, span = (
            (self.recent_search, SEARCH_SECONDLY_MAX, 1.0)
            if search
            else (self.recent, TEN_SECONDLY_MAX, 10.0)
        )
        while window and now - window[0] > span:
            window.popleft()
        if self.enforce and len(window) >= cap:
            return "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
        window.append(now)
        self.today += 1
        return None

    def headers(self, remaining: int | None = None) -> dict[str, str]:
        """HubSpot's X-HubSpot-RateLimit-* headers for a non-search response."""
        left = max(0, TEN_SECONDLY_MAX - len(self.recent)) if remaining is None else remaining
        return {
            "X-HubSpot-RateLimit-Daily": str(DAILY_MAX),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, DAILY_MAX - self.today)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(TEN_SECONDLY_MAX),
            "X-HubSpot-RateLimit-Remaining": str(left),
            "X-HubSpot-RateLimit-Secondly": str(TEN_SECONDLY_MAX // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(left, TEN_SECONDLY_MAX // 10)),
        }


class HubSpotApp(App):
    """HubSpot CRM v3/v4 sandbox: companies, contacts, deals, properties, search, associations."""

    name = "hubspot"

    def __init__(
        self,
        companies: int = 0,
        contacts: int = 0,
        deals: int = 0,
        token: str = DEFAULT_TOKEN,
        *,
        enforce_limits: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.retry_after_seconds = 1  # what a 429 puts in Retry-After; tests may set 0
        self.limits = RateLimits(enforce_limits)
        self.clock: Callable[[], int] | None = None  # tests may pin "now" (epoch ms)
        self.stores = {name: ObjectStore(t, _ID_BASES[name]) for name, t in OBJECT_TYPES.items()}
        self.associations = AssociationStore(self.stores)
        self._data_lock = threading.RLock()
        self._last_ms = 0
        for store in self.stores.values():
            ObjectRoutes(store, self.associations, self.now_ms).register(self, self._guard)
        AssociationRoutes(self.associations).register(self, self._guard)
        seed_stores(self.stores, self.associations, companies, contacts, deals)

    def now_ms(self) -> int:
        """The sandbox clock in epoch ms: wall time (or ``clock``), never going backwards."""
        wall = self.clock() if self.clock else int(time.time() * 1000)
        self._last_ms = max(self._last_ms, wall)
        return self._last_ms

    def store(self, object_type: str) -> ObjectStore:
        """The store of one object type (companies, contacts, deals)."""
        return self.stores[object_type]

    # --- hooks from crmsync.sandbox.http ------------------------------------------------------
    def authenticate(self, request: Request, label: str) -> None:
        """Bearer-token auth (401 in HubSpot's shape), then the optional real rate limiter."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(
                401,
                wire.error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
            )
        with self._lock:
            policy = self.limits.hit(label.startswith("search:"))
            if policy:
                self.counters[f"{label}:429"] += 1
        if policy:
            response = self._too_many(label, policy)
            raise HttpError(response.status, response.body, response.headers)

    def rate_limited(self, request: Request, label: str) -> Response:
        """An injected 429, exactly as HubSpot words it."""
        return self._too_many(label, "SECONDLY" if label.startswith("search:") else "TEN_SECONDLY_ROLLING")

    def server_error(self, request: Request, label: str) -> Response:
        """An injected 5xx: HubSpot's edge answers these with an HTML page, not JSON."""
        html = "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
        return Response(502, html, content_type="text/html")

    def dispatch(self, request: Request) -> Response:
        """Route the request; non-search API answers carry the rate-limit headers, as HubSpot's do."""
        response = super().dispatch(request)
        if not request.path.startswith("/__sandbox__/") and "/search" not in request.path:
            for key, value in self.limits.headers().items():
                response.headers.setdefault(key, value)
        return response

    # --- internals ----------------------------------------------------------------------------
    def _too_many(self, label: str, policy: str) -> Response:
        search = policy == "SECONDLY"
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": wire.correlation_id(),
            "policyName": policy,
            "groupName": f"publicapi:private-app-api-calls-{'search' if search else 'ten-secondly'}:"
            f"{PORTAL_ID}",
            "requestId": wire.correlation_id(),
        }
        # HubSpot documents that search responses carry no X-HubSpot-RateLimit-* headers.
        headers = {} if search else self.limits.headers(remaining=0)
        headers["Retry-After"] = str(self.retry_after_seconds)
        return Response(429, body, headers)

    def _guard(self, handler: Callable[[Request], object]) -> Callable[[Request], object]:
        @wraps(handler)
        def locked(request: Request) -> object:
            with self._data_lock:  # one request at a time touches the stores
                return handler(request)

        return locked
