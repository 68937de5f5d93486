"""Scale-out tests: the session's Prefect API is the shared fixture of tests/fixtures/prefect.py."""
