"""Shared fixtures: a fresh store per test (see tests/fixtures/)."""

pytest_plugins = ["tests.fixtures.store"]
