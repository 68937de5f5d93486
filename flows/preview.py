"""The sync preview flow: a dry run of a sync that writes nothing, published as table artifacts.

It runs the sync's own run path (``crmsync.sync.runner``) with ``tasks.PREVIEW_STEPS``: the
sync's tasks with the writing ones swapped for reporting ones, on read-only views of the store
and the CRM connector (``crmsync.sync.preview``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from crmsync.sync.preview import diff_rows, preview_integration, summary_rows
from tasks import PREVIEW_STEPS


@flow(name="crmsync-preview", flow_run_name="{integration} · preview")
def preview_sync(integration: str, cs_object: str | None = None) -> dict[str, Any]:
    """What a sync of the integration (or one object) would create, update, skip, reject or flag."""
    from prefect.artifacts import create_table_artifact

    from crmsync.store import Store

    result = preview_integration(Store(), integration, cs_object, PREVIEW_STEPS)
    create_table_artifact(
        table=summary_rows(result),
        key=f"preview-{integration}",
        description=f"# {integration}: sync preview\n\nWhat a sync would do on each side; nothing written.",
    )
    diffs = diff_rows(result)
    if diffs:
        create_table_artifact(
            table=diffs,
            key=f"preview-{integration}-diffs",
            description=f"# {integration}: field changes a sync would make (first 50 per object and side)",
        )
    rejected = [{"object": o["cs_object"], **r} for o in result["objects"] for r in o["rejected_options"]]
    if rejected:
        create_table_artifact(
            table=rejected,
            key=f"preview-{integration}-rejected",
            description=f"# {integration}: values the CRM's live options would reject",
        )
    get_run_logger().info("%s preview: %s", integration, summary_rows(result))
    return result
