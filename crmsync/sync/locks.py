"""One write at a time per integration × object, across flows: a Prefect global concurrency limit.

A scheduled sync of an object (``crmsync-object``) and each window of a backfill of that object
(``crmsync-backfill``) hold the limit ``crmsync-<integration>-<object>`` (one slot) while they
work, so the two never write the same object at the same time; the second waits its turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

LEASE_SECONDS = 600  # a crashed holder frees the slot after this long
_ensured: set[tuple[str, str]] = set()  # (API URL, limit name) known to exist: one check per process


def lock_name(integration: str, cs_object: str) -> str:
    """The concurrency limit's name for one integration × object."""
    return f"crmsync-{integration}-{cs_object}"


def ensure_limit(name: str) -> None:
    """Create the limit with one slot if the Prefect server does not have it yet."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    key = (str(PREFECT_API_URL.value()), name)
    if key in _ensured:
        return
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run created it first
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    _ensured.add(key)


@contextmanager
def object_lock(integration: str, cs_object: str) -> Iterator[None]:
    """Hold the object's one slot for the duration of the block (waits while another run has it)."""
    from prefect.concurrency.sync import concurrency

    name = lock_name(integration, cs_object)
    ensure_limit(name)
    with concurrency(name, occupy=1, lease_duration=LEASE_SECONDS, strict=True):
        yield
