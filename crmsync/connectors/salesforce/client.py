"""The simple-salesforce session: token or SOAP login, timeouts, retries with back-off, secret-free errors."""

from __future__ import annotations

import logging
import os
import time
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
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from crmsync.connectors.base import AuthError, ConnectorError
from crmsync.secrets import Secret

log = logging.getLogger("crmsync.connectors.salesforce")
T = TypeVar("T")


class Rejected(ConnectorError):
    """Salesforce refused a whole request (a 4xx other than auth and rate limits)."""


class _SessionRenewed(Exception):
    """A password session expired and was dropped; the next attempt logs in again."""


SDK_ERRORS = (SalesforceError, SalesforceOperationError, requests.RequestException, _SessionRenewed)


class _TimeoutSession(requests.Session):
    """A requests session that gives every call the SDK makes a timeout (the SDK sets none)."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class SalesforceClient:
    """One authenticated SDK client, made on first use; every call goes through ``call``."""

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
    ):
        self.url, self.version, self.timeout = url, version, timeout
        self._token, self._login = token, login
        self._base_delay, self._max_attempts = base_delay, max_attempts
        self._secrets = [s for s in (token, *(login[1:] if login else ())) if s is not None]
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
            session = _TimeoutSession(self.timeout)
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

    def call(self, what: str, fn: Callable[[Salesforce], T], retry: bool = True) -> T:
        """Run ``fn(sdk)``, retrying rate limits, 5xx and dropped connections with exponential back-off."""
        retrying = Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(self._max_attempts if retry else 1),
            wait=wait_exponential(multiplier=self._base_delay, max=self._base_delay * 30),
            before_sleep=lambda state: self._log_retry(what, state.outcome.exception(), state.attempt_number),
            reraise=True,
        )
        try:
            return retrying(self._once, fn)
        except SDK_ERRORS as exc:
            error = self.translate(what, exc)
        raise error  # outside the except block: nothing from the SDK (URL, headers) is chained to it

    def restarting(self, what: str, start: Callable[[Salesforce], Iterator[T]]) -> Iterator[T]:
        """Items of an SDK generator (a Bulk query's pages); after a transient failure it starts over."""
        items: Iterator[T] | None = None
        failures = 0
        while True:
            error = None
            try:
                if items is None:
                    items = self._once(lambda sf: iter(start(sf)))
                item = self._once(lambda sf, items=items: next(items, None))
            except SDK_ERRORS as exc:
                failures += 1
                if transient(exc) and failures < self._max_attempts:
                    self._log_retry(f"{what} (starting again)", exc, failures)
                    time.sleep(min(self._base_delay * 2 ** (failures - 1), self._base_delay * 30))
                    items = None
                    continue
                error = self.translate(what, exc)
            if error is not None:
                raise error  # outside the except block, as in call()
            if item is None:
                return
            yield item

    def _once(self, fn: Callable[[Salesforce], T]) -> T:
        try:
            return fn(self.sdk())
        except SalesforceExpiredSession:
            if self._login is None:
                raise
            self._sdk = None  # a password session can be renewed: the retry logs in again
            raise _SessionRenewed from None

    def _log_retry(self, what: str, exc: BaseException | None, attempt: int) -> None:
        reason = self.translate(what, exc).args[0] if exc else "unknown error"
        log.warning("%s; retry %d of %d", reason, attempt, self._max_attempts - 1)

    def translate(self, what: str, exc: BaseException) -> ConnectorError:
        """A one-line ConnectorError (AuthError for credentials) that names the cause and no secret."""
        if isinstance(exc, requests.exceptions.SSLError):
            bundle = os.environ.get("REQUESTS_CA_BUNDLE")
            error: ConnectorError = ConnectorError(
                f"TLS: the certificate of {self.host} is not trusted; set REQUESTS_CA_BUNDLE to the CA "
                "bundle that signed it" + (f" (it is {bundle})" if bundle else "")
            )
        elif isinstance(exc, requests.exceptions.Timeout):
            error = ConnectorError(f"Salesforce {what}: {self.host} did not answer within {self.timeout:g} s")
        elif isinstance(exc, requests.exceptions.ConnectionError):
            error = ConnectorError(f"Salesforce {what}: cannot reach {self.host} (connection failed)")
        elif isinstance(exc, SalesforceAuthenticationFailed):
            error = AuthError(f"Salesforce login failed: {exc.code}: {exc.auth_message}")
        elif isinstance(exc, SalesforceExpiredSession | _SessionRenewed):
            error = AuthError(
                "Salesforce rejected the session (INVALID_SESSION_ID): the token is invalid or expired"
            )
        elif isinstance(exc, SalesforceError):
            code, message = error_detail(exc.content)
            kind = Rejected if 400 <= exc.status < 500 and not transient(exc) else ConnectorError
            error = kind(f"Salesforce {what} failed: HTTP {exc.status} {code}: {message}")
        else:
            error = ConnectorError(f"Salesforce {what} failed: {exc}")
        text = " ".join(str(error).split())
        for secret in self._secrets:  # belt and braces: no message may carry a credential
            if len(secret.reveal()) >= 4:
                text = text.replace(secret.reveal(), "**********")
        return type(error)(text)


def transient(exc: BaseException) -> bool:
    """Rate limits (REQUEST_LIMIT_EXCEEDED), 5xx, dropped connections and renewed sessions are retried."""
    if isinstance(exc, _SessionRenewed):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, SalesforceAuthenticationFailed):
        return str(exc.code) == "REQUEST_LIMIT_EXCEEDED" or str(exc.code).startswith("5")
    if isinstance(exc, SalesforceError):
        return exc.status >= 500 or error_detail(exc.content)[0] == "REQUEST_LIMIT_EXCEEDED"
    return False


def error_detail(content: Any) -> tuple[str, str]:
    """(errorCode, message) from a REST error body (a list of {errorCode, message}), or a best guess."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return "", text[:200]
