"""Scale-out fixtures: the session's Prefect API (shared with tests/flows)."""

from tests.flows.conftest import prefect_api  # noqa: F401 - a fixture, used by name
