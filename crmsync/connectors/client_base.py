"""What every CRM client shares: the retry policy, the error-resolution table, scrubbing and logging.

A client wraps one official SDK. It says only how to read a failure out of its SDK's exceptions
(``ClientBase.failure``) and which failures to retry (its ``ERRORS`` table, modelled on Airbyte
CDK's ``DEFAULT_ERROR_MAPPING``). Everything else lives here, once: one tenacity set-up that
honours Retry-After and backs off longer on rate limits, one secret scrub, one retry-log line,
and the restart of an SDK generator (a Bulk job's pages) on the same policy.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from crmsync.connectors.base import AuthError, ConnectorError, Rejected
from crmsync.secrets import Secret, scrub

if TYPE_CHECKING:
    from crmsync.budgets import Budget

T = TypeVar("T")
_END = object()  # the end of an SDK generator (None may be an item)


class Action(StrEnum):
    """What to do about a failed call."""

    RETRY = "retry"  # back off exponentially (with jitter), then try again
    RATE_LIMITED = "rate_limited"  # as RETRY, on the longer rate-limit back-off
    FAIL = "fail"  # raise at once: trying again cannot help


class FailureType(StrEnum):
    """Whose fault a failure is; it picks the exception class the caller sees."""

    AUTH = "auth"  # the credentials: AuthError
    REJECTED = "rejected"  # this request, refused as a whole (a 4xx): Rejected
    TRANSIENT = "transient"  # the network or the CRM, for now: ConnectorError
    SYSTEM = "system"  # anything else: ConnectorError

    @property
    def error(self) -> type[ConnectorError]:
        return {FailureType.AUTH: AuthError, FailureType.REJECTED: Rejected}.get(self, ConnectorError)


@dataclass(frozen=True, slots=True)
class ErrorResolution:
    """One row of an error table: the action, the failure type, and optionally a message template.

    The template may use {what}, {status}, {code} and {message}; without one the client's own line
    for the failure is used.
    """

    action: Action
    failure: FailureType = FailureType.SYSTEM
    message: str | None = None

    @property
    def retries(self) -> bool:
        return self.action in (Action.RETRY, Action.RATE_LIMITED)


# Keys, most specific first: an error code (str), an exception class (nearest in the MRO),
# an HTTP status (int), a range of statuses. A failure nothing matches fails as a system error.
ErrorTable = Mapping[str | type[BaseException] | int | range, ErrorResolution]
UNKNOWN = ErrorResolution(Action.FAIL, FailureType.SYSTEM)


@dataclass(frozen=True, slots=True)
class Failure:
    """What an SDK exception says, in the terms an error table is keyed on."""

    line: str  # the client's one-line description, used when the table gives no template
    status: int | None = None  # the CRM's HTTP status; None when no answer came (a transport failure)
    code: str = ""  # the CRM's error code or category, e.g. REQUEST_LIMIT_EXCEEDED
    message: str = ""  # the CRM's own message
    retry_after: float | None = None  # seconds, when the answer carried Retry-After
    cause: type[BaseException] = Exception  # the class the table is searched for


def resolve(table: ErrorTable, failure: Failure) -> ErrorResolution:
    """The table's row for a failure: by code, then exception class, then status, then status range."""
    if failure.code and failure.code in table:
        return table[failure.code]
    for cls in failure.cause.__mro__:
        if cls in table:
            return table[cls]
    if failure.status is not None:
        if failure.status in table:
            return table[failure.status]
        for key, resolution in table.items():
            if isinstance(key, range) and failure.status in key:
                return resolution
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry: attempt cap, jittered exponential back-off, Retry-After."""

    max_attempts: int
    base_delay: float
    max_delay: float
    rate_limit_delay: float
    rate_limit_max_delay: float

    def delay(self, attempt: int, failure: Failure, resolution: ErrorResolution) -> float:
        """Seconds to wait after the ``attempt``-th failure (1-based)."""
        if failure.retry_after is not None:
            return min(failure.retry_after, self.max_delay)  # the CRM said when; never beyond our cap
        if resolution.action is Action.RATE_LIMITED:
            base, cap = self.rate_limit_delay, self.rate_limit_max_delay
        else:
            base, cap = self.base_delay, self.max_delay
        # Full jitter: concurrent runs that failed together do not retry together.
        return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not a secret


class _Failed(Exception):
    """One failed attempt, already translated: the error to raise and whether to try again."""

    def __init__(
        self, error: ConnectorError, failure: Failure, resolution: ErrorResolution, retry: bool
    ) -> None:
        super().__init__(str(error))
        self.error, self.failure, self.resolution, self.retry = error, failure, resolution, retry


class ClientBase:
    """Retries, error resolution, scrubbing and logging for one CRM's SDK client."""

    ERRORS: ClassVar[ErrorTable]
    budget: Budget | None = None  # the account's API budget (crmsync.budgets), when one is in force
    # The final error after the last retry; Salesforce's messages end with their cause, so it keeps them.
    GAVE_UP: ClassVar[str] = "{line} (gave up after {attempts} attempts)"

    def __init__(self, policy: RetryPolicy, secrets: Sequence[Secret | None], log_name: str) -> None:
        self.policy = policy
        self._secrets = [s for s in secrets if s is not None]
        self._log = logging.getLogger(log_name)

    def failure(self, what: str, exc: BaseException) -> Failure | None:
        """What ``exc`` says (None: not a failure of this SDK, so it propagates unchanged)."""
        raise NotImplementedError

    def scrub(self, text: str) -> str:
        """``text`` without any credential or bearer token, on one line, bounded in length."""
        return scrub(text, self._secrets)

    # --- running calls ------------------------------------------------------------------------
    def _run(self, what: str, attempt: Callable[[], T], *, retry_transport: bool = True) -> T:
        """``attempt()`` under the retry policy; failures raise a one-line, secret-free ConnectorError.

        ``retry_transport=False`` fails at once when no answer came (an unreachable host), while
        answers that ask to try again are still retried.
        """

        def once() -> T:
            self._spend(what)  # every attempt is a request the CRM counts, retries included
            try:
                return self._attempt(attempt)
            except Exception as exc:
                failed = self._translate(what, exc, retry_transport)
            raise failed from None  # outside the except block: nothing from the SDK is chained

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Failed) and exc.retry),
            before_sleep=self._before_sleep,
            sleep=time.sleep,
            reraise=True,
        )
        try:
            return retrying(once)
        except _Failed as exc:
            error = self._final(exc, self.policy.max_attempts)
        raise error from None

    def _restarting(self, what: str, start: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Items of an SDK generator; a retryable failure starts it over, on the same policy as ``_run``."""
        items: Iterator[T] | None = None
        failures = 0
        while True:
            failed = None
            self._spend(what)
            try:
                if items is None:
                    items = self._attempt(start)
                item = self._attempt(lambda items=items: next(items, _END))
            except Exception as exc:
                failed = self._translate(what, exc, True)
            if failed is not None:
                failures += 1
                if not (failed.retry and failures < self.policy.max_attempts):
                    raise self._final(failed, failures) from None
                wait = self.policy.delay(failures, failed.failure, failed.resolution)
                self._log_retry(f"{failed.error} (starting again)", failures, wait)
                time.sleep(wait)
                items = None
                continue
            if item is _END:
                return
            yield item

    def _spend(self, what: str) -> None:
        """Take this request's slots from the account's API budget (none: nothing to take)."""
        if self.budget is not None:
            self.budget.spend()

    def _attempt(self, fn: Callable[[], T]) -> T:
        """One try of an SDK call; a client whose session can expire renews it here."""
        return fn()

    # --- internals ----------------------------------------------------------------------------
    def _translate(self, what: str, exc: Exception, retry_transport: bool) -> _Failed:
        failure = self.failure(what, exc)
        if failure is None:
            raise exc
        resolution = resolve(self.ERRORS, failure)
        line = failure.line
        if resolution.message:
            line = resolution.message.format(
                what=what, status=failure.status, code=failure.code, message=failure.message
            )
        retry = resolution.retries and (retry_transport or failure.status is not None)
        return _Failed(resolution.failure.error(self.scrub(line)), failure, resolution, retry)

    def _final(self, failed: _Failed, attempts: int) -> ConnectorError:
        if not failed.retry:
            return failed.error
        line = self.GAVE_UP.format(line=failed.error, attempts=attempts)
        return type(failed.error)(self.scrub(line))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, _Failed):
            return 0.0
        return self.policy.delay(state.attempt_number, exc.failure, exc.resolution)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._log_retry(str(exc), state.attempt_number, wait)

    def _log_retry(self, line: str, attempt: int, wait: float) -> None:
        self._log.warning("%s; retry %d of %d in %.2fs", line, attempt, self.policy.max_attempts - 1, wait)
