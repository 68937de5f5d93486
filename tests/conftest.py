"""Shared fixtures: a fresh store per test, and the sandbox servers (see tests/fixtures/)."""

import os
import tempfile

# A test that forgets the crmsync_home fixture must not write to the user's real data folder
# (CRMSYNC_HOME's default): point the per-user data folder at a throw-away one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="crmsync-tests-data-")
# A command without a Prefect API starts a local one that stops with it, not a shared one that
# outlives the test by minutes (tests/cli/test_local_api.py tests the shared one explicitly).
os.environ["CRMSYNC_LOCAL_API_IDLE"] = "0"

pytest_plugins = [
    "tests.fixtures.store",
    "tests.fixtures.hubspot",
    "tests.fixtures.salesforce",
    "tests.fixtures.prefect",
]
