"""Shared fixtures: a fresh store per test, and the sandbox servers (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.store",
    "tests.fixtures.hubspot",
    "tests.fixtures.salesforce",
]
