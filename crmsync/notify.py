"""The failure notification: a Prefect automation on failed, crashed or timed-out crmsync runs.

``crmsync deploy`` keeps one automation, named ``AUTOMATION``, that reacts to any flow run
tagged ``crmsync`` entering Failed, Crashed or TimedOut. If ``CRMSYNC_NOTIFY_BLOCK`` names a
notification block (``<block-type-slug>/<name>``, e.g. ``slack-webhook/ops``) it sends a
notification through it; otherwise it does nothing but stays visible in the Prefect UI's
Automations page, with its triggered events, until a block is configured.
"""

from __future__ import annotations

import os
from typing import Any

AUTOMATION = "crmsync: a run failed or crashed"
FAILED_STATES = ("Failed", "Crashed", "TimedOut")


def notify_block() -> str | None:
    """The notification block named by CRMSYNC_NOTIFY_BLOCK, if any."""
    return os.environ.get("CRMSYNC_NOTIFY_BLOCK", "").strip() or None


def _action() -> Any:
    from prefect.blocks.core import Block
    from prefect.events.actions import DoNothing, SendNotification

    slug = notify_block()
    if slug is None:
        return DoNothing()
    block = Block.load(slug)
    return SendNotification(
        block_document_id=block._block_document_id,
        subject="crmsync: {{ flow_run.name }} {{ flow_run.state.name }}",
        body="{{ flow_run.name }} ended {{ flow_run.state.name }}: {{ flow_run.state.message }}",
    )


def ensure_failure_automation() -> str:
    """Create or replace the failure automation on the Prefect server; one line saying what it does."""
    from prefect.automations import Automation, EventTrigger, Posture
    from prefect.client.orchestration import get_client

    trigger = EventTrigger(
        expect={f"prefect.flow-run.{state}" for state in FAILED_STATES},
        match_related={"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.crmsync"},
        posture=Posture.Reactive,
        threshold=1,
    )
    action = _action()
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION):
            client.delete_automation(old.id)
    Automation(
        name=AUTOMATION,
        description="Failed, crashed or timed-out crmsync runs (see README: failure notifications).",
        trigger=trigger,
        actions=[action],
    ).create()
    target = f"notify {notify_block()}" if notify_block() else "no block set (CRMSYNC_NOTIFY_BLOCK)"
    return f"automation '{AUTOMATION}': {target}"
