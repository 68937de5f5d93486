"""30% 429s and 5% 5xx on every CRM call: the runs complete and end where a clean run ends.

The sandbox draws each request's fate from a seeded RNG (``Faults.rate_limit_ratio`` /
``error_ratio``). The same seeded workload as the kill tests (new and edited records on both
sides) must leave both sides in the expected end state, with nothing quarantined: a transient
answer is never a bad record.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from crmsync import page
from crmsync.sandbox.http import Faults
from crmsync.store import Store
from flows.sync import sync_integration
from tests.reliability.helpers import Expected, Workload, assert_end_state, crm_state

ROUNDS = 3


def _faulty(crm, seed: int) -> None:
    app = crm.running.app
    if crm.kind == "hubspot":
        app.retry_after_seconds = 0  # Retry-After is honoured; 0 keeps the test from sleeping
    app.faults = Faults(rate_limit_ratio=0.30, error_ratio=0.05, seed=seed)


def _injected(crm) -> Counter:
    counters = crm.running.app.counters
    return Counter(
        {k: sum(n for label, n in counters.items() if label.endswith(k)) for k in (":429", ":5xx")}
    )


def _completed(result) -> list[str]:
    return [o["status"] for o in result["objects"]]


@pytest.mark.timeout(600)
def test_429s_and_5xx_end_in_the_same_state_as_a_clean_run(crm, backend):
    rng = random.Random(4290)
    store = Store()
    page.connect(store, crm.kind)
    expected = Expected(**crm_state(crm))  # the seeded CRM, before any run
    assert sum(expected.clients.values()) == 40
    _faulty(crm, seed=4291)
    assert _completed(sync_integration(crm.kind)) == ["completed"] * 3
    injected = _injected(crm)
    crm.running.app.faults = Faults()  # read the CRM's state without faults
    assert_end_state(store, crm, expected)

    work = Workload(crm, store, expected)
    for r in range(1, ROUNDS + 1):
        work.cs_changes(r, rng)
        work.crm_changes(r, rng)
        crm.reset()
        _faulty(crm, seed=4291 + r)
        assert _completed(sync_integration(crm.kind)) == ["completed"] * 3
        injected += _injected(crm)
        crm.running.app.faults = Faults()
        assert_end_state(store, crm, expected)
    assert injected[":429"] >= 5 and injected[":5xx"] >= 1, injected  # the faults really happened
