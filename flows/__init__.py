"""Prefect flows: one per integration × object, and one per integration running its objects in order."""
