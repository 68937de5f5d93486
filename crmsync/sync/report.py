"""What a run tells its operators: counts per object, and a Prefect artifact that explains the run."""

from __future__ import annotations

from typing import Any

from crmsync.sync.counts import PullCounts, PushCounts

COUNT_COLUMNS = (
    "extracted",
    "created",
    "updated",
    "unchanged",
    "quarantined",
    "conflicts",
    "pushed",
    "push_created",
    "push_unchanged",
    "deleted",
    "parked",
)


def summarize(pulled: PullCounts, pushed: PushCounts) -> dict[str, int]:
    """One object's counts, named as the artifact and the CLI show them."""
    return {
        "extracted": pulled.extracted,
        "created": pulled.created,
        "updated": pulled.updated,
        "unchanged": pulled.unchanged,
        "quarantined": pulled.quarantined + pushed.quarantined,
        "conflicts": pulled.conflicts,
        "pushed": pushed.pushed,
        "push_created": pushed.created,
        "push_unchanged": pushed.unchanged,
        "deleted": pulled.deleted,
        "parked": max(pulled.parked, 0),
    }


def markdown(integration: str, results: list[dict[str, Any]], reasons: list[str], skipped: bool) -> str:
    """The run as markdown: a table of counts per object and the first quarantine reasons."""
    if skipped:
        return (
            f"# {integration}: skipped\n\n"
            "The integration is paused (global toggle off). Nothing was read or written."
        )
    lines = [f"# {integration}: sync", "", "| object | status | " + " | ".join(COUNT_COLUMNS) + " |"]
    lines.append("|" + "---|" * (len(COUNT_COLUMNS) + 2))
    for row in results:
        cells = [str(row.get(name, "")) for name in COUNT_COLUMNS]
        lines.append(f"| {row['object']} | {row['status']} | " + " | ".join(cells) + " |")
    if reasons:
        lines += ["", "## First quarantine reasons", ""]
        lines += [f"- {reason}" for reason in reasons]
    lines += [
        "",
        "*extracted/created/updated/unchanged*: records pulled from the CRM; "
        "*pushed*: records written to it; "
        f"*quarantined*: kept aside with a reason; list them with `crmsync quarantine {integration}`. "
        f"They are retried on a back-off or when they change; `crmsync quarantine {integration} --replay` "
        "retries them at the next sync.",
    ]
    return "\n".join(lines)


def publish_artifact(integration: str, results: list[dict[str, Any]], skipped: bool = False) -> None:
    """Attach the run's summary to the Prefect flow run as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    from crmsync.store import Store

    reasons = [
        f"{row.cs_object} {row.direction} {row.record_key}: {row.reason}"
        for row in Store().state.quarantine_rows(integration, limit=10)
    ]
    key = "crmsync-" + "".join(c if c.isalnum() else "-" for c in integration.lower())
    create_markdown_artifact(
        markdown=markdown(integration, results, reasons, skipped),
        key=key,
        description=f"crmsync sync of {integration}",
    )
