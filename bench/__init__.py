"""Benchmarks: wall time and API calls of crmsync's pipeline against the sandbox CRMs."""
