"""The official HubSpot SDK behind the shared retry policy, with HubSpot's error table.

Every SDK call goes through ``HubSpotClient.call``. Every call the connector makes is
idempotent (reads, searches, updates by id, upserts by a unique key, association creates), so
retrying a POST is safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot

from crmsync.connectors.client_base import (
    Action,
    ClientBase,
    ErrorResolution,
    ErrorTable,
    Failure,
    FailureType,
    RetryPolicy,
)
from crmsync.connectors.hubspot.settings import RATE_LIMIT_WINDOW_SECONDS
from crmsync.secrets import Secret

T = TypeVar("T")


# HubSpot's answers and what they call for. Per-record errors of a batch come back in a 207
# and never reach this table.
class CutOffBody(Exception):
    """An answer whose body ended early or is not the JSON it should be (a reset mid-body)."""


ERRORS: ErrorTable = {
    urllib3.exceptions.HTTPError: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),  # no answer
    CutOffBody: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    401: ErrorResolution(
        Action.FAIL, FailureType.AUTH, "HubSpot refused the access token (401) for {what}: {message}"
    ),
    403: ErrorResolution(Action.FAIL, FailureType.AUTH),  # the token lacks a scope
    429: ErrorResolution(Action.RATE_LIMITED, FailureType.TRANSIENT),  # with Retry-After
    range(500, 600): ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    range(400, 500): ErrorResolution(Action.FAIL, FailureType.REJECTED),
}


class HubSpotClient(ClientBase):
    """One SDK client and its API objects (cached, so keep-alive connections are reused)."""

    ERRORS = ERRORS

    def __init__(
        self,
        token: Secret,
        base_url: str,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_attempts: int = 6,
        retry_base_delay: float = 0.5,
        rate_limit_delay: float = 2.0,
        max_retry_delay: float = 30.0,
    ) -> None:
        # Without Retry-After, rate limits back off across HubSpot's ten-second rolling window.
        policy = RetryPolicy(
            max_attempts=max_attempts,
            base_delay=retry_base_delay,
            max_delay=max_retry_delay,
            rate_limit_delay=rate_limit_delay,
            rate_limit_max_delay=min(max_retry_delay, max(rate_limit_delay, RATE_LIMIT_WINDOW_SECONDS)),
        )
        super().__init__(policy, [token], "crmsync.connectors.hubspot")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._sdk: HubSpot | None = None
        self._apis: dict[tuple[str, ...], Any] = {}

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        # The SDK objects hold the raw token in their configuration: never let them into a pickle
        # (the Secret itself then refuses to be serialised).
        return {**self.__dict__, "_sdk": None, "_apis": {}}

    def api(self, *path: str) -> Any:
        """An SDK API object by attribute path, e.g. ``api("crm", "companies", "search_api")``."""
        if path not in self._apis:
            target: Any = self._client()
            for part in path:
                target = getattr(target, part)
            self._apis[path] = target  # each SDK API object owns a connection pool: build it once
        return self._apis[path]

    def call(
        self, what: str, fn: Callable[..., T], *args: Any, retry_transport: bool = True, **kwargs: Any
    ) -> T:
        """Run one SDK call with a timeout and retries; failures raise a one-line ConnectorError."""
        kwargs.setdefault("_request_timeout", self.timeout)
        return self._run(what, lambda: fn(*args, **kwargs), retry_transport=retry_transport)

    def call_json(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one SDK call and read its JSON body directly, body read included in the retries.

        The SDK's model layer is skipped: it parses two datetimes per record with dateutil and
        builds a configuration per model, which cost half of a pull's time.
        """
        kwargs.setdefault("_request_timeout", self.timeout)

        def attempt() -> dict[str, Any]:
            raw = fn(*args, _preload_content=False, **kwargs)
            try:
                return _json_body(raw.data)
            finally:
                raw.release_conn()

        return self._run(what, attempt)

    def _spend(self, what: str) -> None:
        # One SDK call is one request; searches also draw on HubSpot's per-second search limit.
        if self.budget is not None:
            self.budget.spend(search=what.startswith("search"))

    def failure(self, what: str, exc: BaseException) -> Failure:
        """Status, category, message and Retry-After of an SDK exception (every package has its own)."""
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0 and hasattr(exc, "body"):
            detail = _body_json(getattr(exc, "body", None))
            message = str(detail.get("message") or _reason_phrase(status))
            category = str(detail.get("category") or detail.get("policyName") or "")
            line = f"HubSpot answered {status}{f' {category}' if category else ''} to {what}: {message}"
            retry_after = _retry_after(getattr(exc, "headers", None))
            return Failure(line, status, category, message, retry_after, type(exc))
        if isinstance(exc, CutOffBody):
            return Failure(f"HubSpot's answer to {what} was cut off: {exc}", cause=CutOffBody)
        if isinstance(exc, urllib3.exceptions.HTTPError) or isinstance(status, int):
            # Status 0 is the SDK's wrapper for a urllib3 TLS error: no answer came either.
            reason = getattr(exc, "reason", None) or exc
            line = f"cannot reach HubSpot at {self.base_url} for {what}: {_short(reason)}"
            return Failure(line, cause=urllib3.exceptions.HTTPError)
        line = f"unexpected answer from HubSpot for {what}: {type(exc).__name__}: {exc}"
        return Failure(line, cause=type(exc))

    def _client(self) -> HubSpot:
        if self._sdk is None:
            # Every SDK Configuration takes ``host``: this points all APIs at HUBSPOT_BASE_URL.
            # urllib3 retries are off (total=0): the retry policy lives in ``call`` alone.
            self._sdk = HubSpot(
                access_token=self._token.reveal(), host=self.base_url, retry=urllib3.Retry(total=0)
            )
        return self._sdk


def _json_body(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise CutOffBody(f"{len(data)} bytes that are not JSON ({exc.__class__.__name__})") from None
    if not isinstance(parsed, dict):
        raise CutOffBody("a JSON answer that is not an object")
    return parsed


def _body_json(body: Any) -> dict:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return {}  # HubSpot's edge answers some 5xx with HTML
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date form; fall back to back-off


def _short(reason: object) -> str:
    text = str(reason)
    return text.rsplit(": ", 1)[-1] if ": " in text else text


def _reason_phrase(status: int) -> str:
    return {400: "bad request", 404: "not found", 409: "conflict", 429: "too many requests"}.get(
        status, "error" if status < 500 else "server error"
    )
