"""The simple-salesforce session: token or SOAP login, timeouts, and Salesforce's error table.

Retries, back-off, scrubbing and the retry log are the shared ones (``client_base``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)

from crmsync.connectors.client_base import (
    Action,
    ClientBase,
    ErrorResolution,
    ErrorTable,
    Failure,
    FailureType,
    RetryPolicy,
)
from crmsync.secrets import Secret

T = TypeVar("T")


class _SessionRenewed(Exception):
    """A password session expired and was dropped; the next attempt logs in again."""


SDK_ERRORS = (SalesforceError, SalesforceOperationError, requests.RequestException, _SessionRenewed)
_SESSION = "Salesforce rejected the session (INVALID_SESSION_ID): the token is invalid or expired"

# Salesforce's answers and what they call for. Per-record errors of a Collections call come
# back in a 200 and never reach this table.
ERRORS: ErrorTable = {
    # The org's API allowance (a 403 on REST, a SOAP fault on login): it refills, so back off.
    "REQUEST_LIMIT_EXCEEDED": ErrorResolution(Action.RATE_LIMITED, FailureType.TRANSIENT),
    _SessionRenewed: ErrorResolution(Action.RETRY, FailureType.AUTH, _SESSION),
    SalesforceExpiredSession: ErrorResolution(Action.FAIL, FailureType.AUTH, _SESSION),
    # An untrusted certificate stays untrusted: say how to fix it instead of retrying.
    requests.exceptions.SSLError: ErrorResolution(Action.FAIL, FailureType.SYSTEM),
    requests.exceptions.Timeout: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    requests.exceptions.ConnectionError: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    # An answer cut off mid-body: a dropped connection, or JSON that ends too soon.
    requests.exceptions.ChunkedEncodingError: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    requests.exceptions.JSONDecodeError: ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    401: ErrorResolution(Action.FAIL, FailureType.AUTH),  # a refused login (INVALID_LOGIN)
    range(500, 600): ErrorResolution(Action.RETRY, FailureType.TRANSIENT),
    range(400, 500): ErrorResolution(Action.FAIL, FailureType.REJECTED),
}


class _TimeoutSession(requests.Session):
    """A requests session that gives every call the SDK makes a timeout (the SDK sets none).

    Every HTTP request also takes its slot of the org's API budget here: one SDK call may be
    several requests (a query's next pages, a Bulk job's polls).
    """

    def __init__(self, timeout: float, client: SalesforceClient) -> None:
        super().__init__()
        self.timeout, self.client = timeout, client

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if self.client.budget is not None:
            self.client.budget.spend()
        return super().request(method, url, *args, **kwargs)


class SalesforceClient(ClientBase):
    """One authenticated SDK client, made on first use; every call goes through ``call``."""

    ERRORS = ERRORS
    GAVE_UP = "{line}"  # the cause ends the message ("... did not answer within 60 s")

    def __init__(
        self,
        url: str,
        token: Secret | None,
        login: tuple[str, Secret, Secret] | None,
        *,
        version: str,
        timeout: float,
        base_delay: float,
        max_attempts: int,
    ) -> None:
        # Salesforce sends no Retry-After; its rate limit is a daily allowance, so the same back-off.
        policy = RetryPolicy(max_attempts, base_delay, base_delay * 30, base_delay, base_delay * 30)
        super().__init__(policy, [token, *(login[1:] if login else ())], "crmsync.connectors.salesforce")
        self.url, self.version, self.timeout = url, version, timeout
        self._token, self._login = token, login
        self._sdk: Salesforce | None = None

    def __repr__(self) -> str:
        return f"SalesforceClient(url={self.url!r})"

    @property
    def host(self) -> str:
        """host:port of the instance (after login: the instance the login server named)."""
        return self._sdk.sf_instance if self._sdk else urlsplit(self.url).netloc

    def sdk(self) -> Salesforce:
        """The simple-salesforce client, logging in first when the credentials are a password."""
        if self._sdk is None:
            session = _TimeoutSession(self.timeout, self)
            if self._login is None:
                token = self._token.reveal() if self._token else ""
                self._sdk = Salesforce(
                    instance_url=self.url, session_id=token, version=self.version, session=session
                )
            else:
                username, password, security_token = self._login
                # scratch_url is the login host (login.salesforce.com, a My Domain, or the sandbox):
                # SalesforceLogin posts the SOAP login to <scratch_url>/services/Soap/u/<version>.
                session_id, instance = SalesforceLogin(
                    username=username,
                    password=password.reveal(),
                    security_token=security_token.reveal(),
                    sf_version=self.version,
                    session=session,
                    scratch_url=self.url,
                )
                self._sdk = Salesforce(
                    session_id=session_id, instance=instance, version=self.version, session=session
                )
        return self._sdk

    def call(self, what: str, fn: Callable[[Salesforce], T], *, retry_transport: bool = True) -> T:
        """Run ``fn(sdk)`` under the retry policy; failures raise a one-line ConnectorError."""
        return self._run(what, lambda: fn(self.sdk()), retry_transport=retry_transport)

    def restarting(self, what: str, start: Callable[[Salesforce], Iterator[T]]) -> Iterator[T]:
        """Items of an SDK generator (a Bulk query's pages); after a transient failure it starts over."""
        return self._restarting(what, lambda: iter(start(self.sdk())))

    def _spend(self, what: str) -> None:
        """Nothing per SDK call: the session takes the budget per HTTP request."""

    def failure(self, what: str, exc: BaseException) -> Failure | None:
        """Status, errorCode and message of a simple-salesforce or requests exception."""
        if not isinstance(exc, SDK_ERRORS):
            return None
        cause = type(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            bundle = os.environ.get("REQUESTS_CA_BUNDLE")
            line = (
                f"TLS: the certificate of {self.host} is not trusted; set REQUESTS_CA_BUNDLE to the CA "
                "bundle that signed it" + (f" (it is {bundle})" if bundle else "")
            )
        elif isinstance(exc, requests.exceptions.Timeout):
            line = f"Salesforce {what}: {self.host} did not answer within {self.timeout:g} s"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            line = f"Salesforce {what}: cannot reach {self.host} (connection failed)"
        elif isinstance(exc, SalesforceAuthenticationFailed):
            # A SOAP fault carries a code such as INVALID_LOGIN; a page that is no SOAP, its HTTP status.
            code = str(exc.code)
            status = int(code) if code.isdigit() else exc.status
            line = f"Salesforce login failed: {code}: {exc.auth_message}"
            return Failure(line, status, code, exc.auth_message, cause=cause)
        elif isinstance(exc, SalesforceError):
            code, message = error_detail(exc.content)
            line = f"Salesforce {what} failed: HTTP {exc.status} {code}: {message}"
            return Failure(line, exc.status, code, message, cause=cause)
        elif isinstance(exc, _SessionRenewed):
            return Failure(_SESSION, 401, "INVALID_SESSION_ID", cause=cause)
        else:
            line = f"Salesforce {what} failed: {exc}"
        return Failure(line, cause=cause)

    def _attempt(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except SalesforceExpiredSession:
            if self._login is None:
                raise
            self._sdk = None  # a password session can be renewed: the retry logs in again
            raise _SessionRenewed from None


def error_detail(content: Any) -> tuple[str, str]:
    """(errorCode, message) from a REST error body (a list of {errorCode, message}), or a best guess."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return "", text[:200]
