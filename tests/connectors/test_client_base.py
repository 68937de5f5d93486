"""The shared client base: error tables, back-off, scrubbing, and one behaviour for both CRMs.

The tables and the policy are plain data and are tested as such; the shared behaviour is tested
through each CRM's real SDK over loopback HTTP(S) to its sandbox.
"""

from __future__ import annotations

import logging
import re

import pytest
import requests
import urllib3
from simple_salesforce.exceptions import SalesforceExpiredSession

from crmsync.connectors.base import AuthError, ConnectorError, Rejected
from crmsync.connectors.client_base import (
    UNKNOWN,
    Action,
    ErrorResolution,
    Failure,
    FailureType,
    RetryPolicy,
    resolve,
)
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.connectors.hubspot.client import ERRORS as HUBSPOT
from crmsync.connectors.salesforce import SalesforceConnector
from crmsync.connectors.salesforce.client import ERRORS as SALESFORCE
from crmsync.secrets import Secret, scrub
from tests.fixtures.hubspot import FAST_RETRIES
from tests.fixtures.salesforce import FAST_CONNECTOR

RETRY_LINE = re.compile(r"; retry (\d+) of (\d+) in \d+\.\d\ds$")


# --- the tables -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "failure", "action", "failure_type"),
    [
        (HUBSPOT, Failure("", 401), Action.FAIL, FailureType.AUTH),
        (
            HUBSPOT,
            Failure("", 429, "RATE_LIMITS", retry_after=1.0),
            Action.RATE_LIMITED,
            FailureType.TRANSIENT,
        ),
        (HUBSPOT, Failure("", 502), Action.RETRY, FailureType.TRANSIENT),
        (HUBSPOT, Failure("", 409, "CONFLICT"), Action.FAIL, FailureType.REJECTED),
        (
            HUBSPOT,
            Failure("", cause=urllib3.exceptions.ReadTimeoutError),
            Action.RETRY,
            FailureType.TRANSIENT,
        ),
        (SALESFORCE, Failure("", 403, "REQUEST_LIMIT_EXCEEDED"), Action.RATE_LIMITED, FailureType.TRANSIENT),
        (SALESFORCE, Failure("", 403, "INSUFFICIENT_ACCESS"), Action.FAIL, FailureType.REJECTED),
        (SALESFORCE, Failure("", 503, "SERVER_UNAVAILABLE"), Action.RETRY, FailureType.TRANSIENT),
        (SALESFORCE, Failure("", 401, cause=SalesforceExpiredSession), Action.FAIL, FailureType.AUTH),
        # An SSLError is a ConnectionError too: the nearer class wins, and it is not retried.
        (SALESFORCE, Failure("", cause=requests.exceptions.SSLError), Action.FAIL, FailureType.SYSTEM),
        (
            SALESFORCE,
            Failure("", cause=requests.exceptions.ConnectTimeout),
            Action.RETRY,
            FailureType.TRANSIENT,
        ),
    ],
)
def test_the_tables_resolve_code_then_class_then_status_then_range(
    table, failure: Failure, action: Action, failure_type: FailureType
) -> None:
    resolution = resolve(table, failure)
    assert (resolution.action, resolution.failure) == (action, failure_type)


def test_a_failure_no_table_knows_fails_as_a_system_error() -> None:
    assert resolve(SALESFORCE, Failure("", 300)) is UNKNOWN
    assert resolve(HUBSPOT, Failure("", cause=ValueError)) is UNKNOWN
    assert (UNKNOWN.action, UNKNOWN.failure.error) == (Action.FAIL, ConnectorError)
    assert FailureType.AUTH.error is AuthError and FailureType.REJECTED.error is Rejected


def test_the_policy_honours_retry_after_and_backs_off_longer_on_rate_limits() -> None:
    policy = RetryPolicy(
        max_attempts=6, base_delay=0.5, max_delay=30, rate_limit_delay=2, rate_limit_max_delay=10
    )
    retry, limited = ErrorResolution(Action.RETRY), ErrorResolution(Action.RATE_LIMITED)
    assert policy.delay(3, Failure("", 429, retry_after=4.0), limited) == 4.0
    assert policy.delay(1, Failure("", 429, retry_after=600.0), limited) == 30  # never beyond the cap
    for attempt in range(1, 8):
        assert 0 <= policy.delay(attempt, Failure("", 502), retry) <= min(30, 0.5 * 2 ** (attempt - 1))
        assert 0 <= policy.delay(attempt, Failure("", 429), limited) <= min(10, 2 * 2 ** (attempt - 1))


def test_scrub_removes_secrets_and_bearer_tokens_on_one_bounded_line() -> None:
    text = "token pat-123456 in\nAuthorization: Bearer abc.def and password hunter22\tend"
    line = scrub(text, [Secret("pat-123456"), Secret("hunter22"), Secret("in")])
    assert line == "token *** in Authorization: Bearer *** and password *** end"  # "in" is too short
    long = scrub("x" * 1000, [])
    assert len(long) == 300 and long.endswith("…")


# --- one behaviour for both CRMs, through the SDKs --------------------------------------------
def test_a_whole_request_refused_is_rejected_by_both_crms(hubspot_sandbox, salesforce_sandbox) -> None:
    hubspot = HubSpotConnector.from_env(**FAST_RETRIES)
    client = hubspot._client
    api = client.api("crm", "companies", "search_api")
    with pytest.raises(Rejected, match=r"^HubSpot answered 400 VALIDATION_ERROR to search companies: "):
        client.call("search companies", api.do_search, {"limit": 201})
    assert hubspot_sandbox.app.counters["search:companies"] == 1  # a 400 is not retried
    salesforce = SalesforceConnector.from_env(**FAST_CONNECTOR)
    with pytest.raises(Rejected, match=r"^Salesforce query Account failed: HTTP 400 INVALID_FIELD: "):
        salesforce.read_by_values("Account", "Nope__c", ["x"], ["Name"])
    assert salesforce_sandbox.sf.counters["query"] == 1


def test_both_crms_log_retries_in_one_line_format(hubspot_sandbox, salesforce_sandbox, caplog) -> None:
    caplog.set_level(logging.WARNING)
    hubspot_sandbox.app.faults.error_every = 1
    with pytest.raises(ConnectorError, match="gave up after 6 attempts"):
        HubSpotConnector.from_env(**FAST_RETRIES).describe("companies")
    salesforce_sandbox.sf.faults.rate_limit_every = 1
    with pytest.raises(ConnectorError, match="REQUEST_LIMIT_EXCEEDED"):
        SalesforceConnector.from_env(**FAST_CONNECTOR).describe("Account")
    hubspot_lines = [r.getMessage() for r in caplog.records if r.name == "crmsync.connectors.hubspot"]
    salesforce_lines = [r.getMessage() for r in caplog.records if r.name == "crmsync.connectors.salesforce"]
    assert [RETRY_LINE.search(line).groups() for line in hubspot_lines] == [
        (str(n), "5") for n in range(1, 6)
    ]
    assert [RETRY_LINE.search(line).groups() for line in salesforce_lines] == [
        (str(n), "4") for n in range(1, 5)
    ]
    assert hubspot_lines[0].startswith("HubSpot answered 502 to describe companies: ")
    assert salesforce_lines[0].startswith(
        "Salesforce describe Account failed: HTTP 403 REQUEST_LIMIT_EXCEEDED"
    )


def test_check_retries_an_answer_but_not_an_unreachable_host(
    hubspot_sandbox, salesforce_sandbox, caplog
) -> None:
    hubspot_sandbox.app.faults.error_every = 2  # the first answer is fine, the second a 502
    hubspot_sandbox.app.faults.rate_limit_every = 0
    hubspot = HubSpotConnector.from_env(**FAST_RETRIES)
    hubspot.check()
    hubspot.check()  # a 502, then a retry
    assert hubspot_sandbox.app.counters["list:companies"] == 3
    salesforce_sandbox.sf.faults.error_every = 1
    with pytest.raises(ConnectorError, match=r"HTTP 503 SERVER_UNAVAILABLE"):
        SalesforceConnector.from_env(**FAST_CONNECTOR).check()
    assert salesforce_sandbox.sf.counters["limits"] == 5
    closed = SalesforceConnector(
        instance_url="https://localhost:9", access_token=Secret("x"), **FAST_CONNECTOR
    )
    caplog.clear()
    with pytest.raises(ConnectorError, match=r"cannot reach localhost:9 \(connection failed\)$"):
        closed.check()
    assert "retry" not in caplog.text
