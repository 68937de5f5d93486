"""Reliability fixtures: the pipeline's sandbox CRM on each store (shared with tests/flows)."""

from tests.flows.conftest import CRMS, Crm, backend, crm  # noqa: F401 - fixtures used here too
