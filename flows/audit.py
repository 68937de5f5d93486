"""The parity audit flow: read both sides of an integration in full and report (or re-queue) drift.

It runs on its own deployment and schedule (``crmsync-audit``), apart from the syncs.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger


@flow(name="crmsync-audit", flow_run_name="{integration} audit")
def audit_integration(
    integration: str, objects: list[str] | None = None, repair: bool = False
) -> dict[str, Any]:
    """Audit every object of one integration; with ``repair``, re-queue drift for the next sync."""
    from prefect.artifacts import create_table_artifact

    from crmsync.audit import run
    from crmsync.store import Store

    result = run.audit_integration(Store(), integration, objects, fix=repair)
    for obj in result["objects"]:
        get_run_logger().info("%s · %s: %s %s", integration, obj["object"], obj["status"], obj["counts"])
    key = "crmsync-audit-" + "".join(c if c.isalnum() else "-" for c in integration.lower())
    create_table_artifact(
        table=run.table_rows(result) or [{"drift": "none: both sides agree"}],
        key=key,
        description=f"crmsync parity audit of {integration}: {result['drifted']} drifted",
    )
    return result
