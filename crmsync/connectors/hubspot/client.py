"""The official HubSpot SDK behind retries, timeouts and one-line, secret-free errors.

Every SDK call goes through ``HubSpotClient.call``. It retries 429s (honouring Retry-After),
5xx answers and transport errors with jittered exponential back-off. Every call the
connector makes is idempotent (reads, searches, updates by id, upserts by a unique key,
association creates), so retrying a POST is safe.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from crmsync.connectors.base import AuthError, ConnectorError
from crmsync.connectors.hubspot.settings import RATE_LIMIT_WINDOW_SECONDS
from crmsync.secrets import Secret

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_MESSAGE = 300


class BadRequest(ConnectorError):
    """HubSpot rejected the request as a whole (a 4xx other than auth or rate limit)."""


class _Transient(ConnectorError):
    """A failure worth retrying: a 429 (``rate_limit``), a 5xx (``server``), or a ``transport`` error."""

    def __init__(self, message: str, kind: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class HubSpotClient:
    """One SDK client and its API objects (cached, so keep-alive connections are reused)."""

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
    ):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_delay = max_retry_delay
        self._backoff = wait_random_exponential(multiplier=retry_base_delay, max=max_retry_delay)
        # Without Retry-After, back off across HubSpot's ten-second rolling window.
        limit_max = min(max_retry_delay, max(rate_limit_delay, RATE_LIMIT_WINDOW_SECONDS))
        self._limit_backoff = wait_random_exponential(multiplier=rate_limit_delay, max=limit_max)
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
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._log_retry(what, state),
            sleep=time.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        return fn(*args, **kwargs)
                    except Exception as exc:  # every SDK package has its own exception classes
                        error = self._translate(what, exc)
                        if (
                            isinstance(error, _Transient)
                            and error.kind == "transport"
                            and not retry_transport
                        ):
                            raise ConnectorError(str(error)) from None
                        raise error from None
        except _Transient as exc:
            raise ConnectorError(f"{exc} (gave up after {self.max_attempts} attempts)") from None
        raise ConnectorError(f"HubSpot {what}: no attempt was made")  # unreachable: Retrying always tries

    def scrub(self, text: str) -> str:
        """``text`` without the token or any bearer credential, on one line, bounded in length."""
        secret = self._token.reveal()
        if secret:
            text = text.replace(secret, "***")
        text = re.sub(r"(?i)bearer\s+\S+", "Bearer ***", text)
        text = " ".join(text.split())
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"

    # --- internals ----------------------------------------------------------------------------
    def _client(self) -> HubSpot:
        if self._sdk is None:
            # Every SDK Configuration takes ``host``: this points all APIs at HUBSPOT_BASE_URL.
            # urllib3 retries are off (total=0): the retry policy lives in ``call`` alone.
            self._sdk = HubSpot(
                access_token=self._token.reveal(), host=self.base_url, retry=urllib3.Retry(total=0)
            )
        return self._sdk

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_delay)
        if isinstance(exc, _Transient) and exc.kind == "rate_limit":
            return self._limit_backoff(state)
        return self._backoff(state)

    def _log_retry(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("HubSpot %s: %s; retry %d in %.2fs", what, exc, state.attempt_number, wait)

    def _translate(self, what: str, exc: Exception) -> ConnectorError:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0 and hasattr(exc, "body"):
            return self._from_status(what, status, getattr(exc, "body", None), getattr(exc, "headers", None))
        if isinstance(exc, urllib3.exceptions.HTTPError) or isinstance(status, int):
            reason = getattr(exc, "reason", None) or exc
            message = f"cannot reach HubSpot at {self.base_url} for {what}: {_short(reason)}"
            return _Transient(self.scrub(message), "transport")
        return ConnectorError(
            self.scrub(f"unexpected answer from HubSpot for {what}: {type(exc).__name__}: {exc}")
        )

    def _from_status(self, what: str, status: int, body: Any, headers: Any) -> ConnectorError:
        detail = _body_json(body)
        message = detail.get("message") or _reason_phrase(status)
        category = detail.get("category") or detail.get("policyName") or ""
        line = self.scrub(
            f"HubSpot answered {status}{f' {category}' if category else ''} to {what}: {message}"
        )
        if status == 401:
            return AuthError(self.scrub(f"HubSpot refused the access token (401) for {what}: {message}"))
        if status == 403:
            return AuthError(line)
        if status == 429:
            return _Transient(line, "rate_limit", retry_after=_retry_after(headers))
        if status >= 500:
            return _Transient(line, "server")
        return BadRequest(line)


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
