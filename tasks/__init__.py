"""Prefect tasks: small named steps over chunks. The decisions they run live in crmsync.sync."""
