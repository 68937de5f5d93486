"""The parity audit of one integration: every object that syncs, drift found, optionally re-queued."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync.audit.drift import KINDS, audit_object
from crmsync.audit.repair import repair
from crmsync.settings import skip_reason
from crmsync.sync.context import open_context

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.store import Store


def audit_integration(
    store: Store, integration: str, objects: list[str] | None = None, fix: bool = False
) -> dict[str, Any]:
    """Audit each chosen object in dependency order; with ``fix``, re-queue its drift for the next sync."""
    row = store.settings.integration(integration)
    for name in objects or []:
        store.settings.object_setting(integration, name)  # unknown names fail before any work
    results = []
    for setting in store.settings.object_settings(integration):
        if objects and setting.cs_object not in objects:
            continue
        reason = skip_reason(row.enabled, setting.direction)
        if reason:
            results.append({"object": setting.cs_object, "status": reason, "counts": {}, "drift": []})
            continue
        ctx = open_context(store, integration, setting.cs_object)
        audit = audit_object(ctx)
        result = {
            "object": setting.cs_object,
            "external_object": setting.external_object,
            "status": "audited",
            "counts": audit.counts(),
            "drift": drift_records(audit.drift, ctx.plan.crm),
        }
        if fix:
            result["repaired"] = repair(store, audit)
        results.append(result)
    total = sum(sum(r["counts"].values()) for r in results)
    return {"integration": integration, "drifted": total, "objects": results}


def drift_records(drift: pd.DataFrame, crm: str) -> list[dict[str, Any]]:
    """Drift rows as plain dicts (None for missing), each with a one-line description of its kind."""
    frame = drift.astype("object").where(drift.notna(), None)
    rows = frame.to_dict(orient="records")
    for row in rows:
        row["cs_id"] = None if row["cs_id"] is None else int(row["cs_id"])
        row["what"] = KINDS[row["kind"]].format(crm=crm)
    return rows


def table_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit as flat rows (object, kind, ids, field, both values): the artifact's and the CLI's table."""
    return [
        {
            "object": obj["object"],
            "drift": row["what"],
            "cs_id": row["cs_id"],
            "external_id": row["external_id"],
            "field": row["field"],
            "clientsuccess": row["cs_value"],
            "crm": row["crm_value"],
            "direction": row["direction"],
        }
        for obj in result["objects"]
        for row in obj["drift"]
    ]
