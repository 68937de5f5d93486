"""Prefect flows: one per integration (its objects as task runs, in order), one per integration × object."""
