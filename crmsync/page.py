"""The configuration page: its items as data and its actions, shared by the CLI and the web page.

Each action validates before it writes, and touches only the integration it names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from crmsync import budgets, config, connecting
from crmsync.connecting import open_account as open_account
from crmsync.errors import ConfigError
from crmsync.mapping.files import load_integration_mapping
from crmsync.mapping.spec import MappingError, MappingFile, load_mapping
from crmsync.settings import (
    KINDS,
    FieldDirection,
    ObjectDirection,
    effective_direction,
    schedule_label,
    why_overridden,
)
from crmsync.store import Store

Progress = Callable[[str, str, int], None]  # (integration × object label, phase, records done)


def connect(
    store: Store, kind: str, name: str | None = None, account: Any = None, allow_same_account: bool = False
) -> dict[str, Any]:
    """Connect an integration (see ``crmsync.connecting.connect``) and return its page."""
    return page(store, connecting.connect(store, kind, name, account, allow_same_account))


def integration_mapping(store: Store, name: str) -> MappingFile:
    """The validated field mappings of an integration (its own file under CRMSYNC_HOME)."""
    return load_integration_mapping(name, store.settings.integration(name).kind)


def point_object(store: Store, name: str, cs_object: str, external_object: str) -> dict[str, Any]:
    """Point a CS object at another external object, if the field mappings cover that pair."""
    store.settings.object_setting(name, cs_object)  # validates both names first
    kind = KINDS[store.settings.integration(name).kind]
    if external_object in kind.external_objects:
        mapping = integration_mapping(store, name)
        if mapping.for_object(cs_object, external_object) is None:
            raise MappingError(
                f"{config.mapping_path(name)}: objects: "
                f"no field mappings for {cs_object} -> {external_object}; "
                "add them first"
            )
    store.settings.point_object(name, cs_object, external_object)
    return page(store, name)


def delete(store: Store, name: str) -> None:
    """Remove an integration permanently: settings, links, cursors, quarantine, conflicts, mappings."""
    store.settings.delete_integration(name)
    with suppress(ConfigError):  # a name from before names were slugs may lead outside: not ours
        config.mapping_path(name).unlink(missing_ok=True)


def delete_everywhere(store: Store, name: str) -> list[str]:
    """Delete an integration and, with a Prefect server configured, its deployments; what was removed."""
    delete(store, name)
    if not os.environ.get("PREFECT_API_URL"):
        return []
    from crmsync.deploy import remove_deployments

    return [f"deployment {line}" for line in remove_deployments(name)]


def pull_now(
    store: Store, name: str, objects: list[str] | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Pull now, as ``crmsync sync`` runs it: the integration flow in this process.

    A paused integration is skipped without starting Prefect. A run that fails comes back with
    status "failed" and a one-line message; either way ``flow_run_id`` names the Prefect run.
    """
    store.settings.integration(name)
    for cs_object in objects or []:
        store.settings.object_setting(name, cs_object)  # unknown names fail before any work
    if not store.settings.integration(name).enabled:
        return {"integration": name, "status": "skipped", "objects": [], "flow_run_id": None}
    from crmsync.sync.context import set_progress
    from flows.sync import sync_integration

    set_progress(progress)
    try:
        state = sync_integration(name, objects, return_state=True)
    finally:
        set_progress(None)
    flow_run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    try:
        result = dict(state.result())
    except Exception as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {
            "integration": name,
            "status": "failed",
            "objects": [],
            "message": message,
            "flow_run_id": flow_run_id,
        }
    return {**result, "flow_run_id": flow_run_id}


def _exact_case_fields(kind: str, object_mapping: Any) -> list[str]:
    """Two-way fields with a value map, where the CRM needs each option's exact case (the warning)."""
    if object_mapping is None or not KINDS[kind].case_sensitive_enums:
        return []
    return [f.cs for f in object_mapping.fields if f.value_map and f.direction is FieldDirection.BOTH]


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _next_pull(integration: Any) -> datetime | None:
    """Prefect's next scheduled run of the integration's deployment, else the stored estimate."""
    if not integration.enabled or integration.schedule == "manual":
        return integration.next_pull_at
    from crmsync.deploy import scheduled_next_pull

    return scheduled_next_pull(integration.name) or integration.next_pull_at


def page(store: Store, name: str) -> dict[str, Any]:
    """Items 1-8 of the configuration page for one integration, as plain data."""
    integration = store.settings.integration(name)
    crm = integration.header
    try:
        path: Path | None = config.mapping_path(name)
    except ConfigError:  # a name from before names were slugs: no file of it is read
        path = None
    mapping = load_mapping(path) if path and path.exists() else None
    objects = []
    for setting in store.settings.object_settings(name):
        direction = ObjectDirection(setting.direction)
        fields = []
        object_mapping = mapping.for_object(setting.cs_object, setting.external_object) if mapping else None
        for fld in object_mapping.fields if object_mapping else []:
            fields.append(
                {
                    "cs_field": fld.cs,
                    "external_field": fld.external,
                    "mapped": fld.direction.value,
                    "effective": effective_direction(integration.enabled, direction, fld.direction).value,
                    "why": why_overridden(integration.enabled, direction, fld.direction),
                    "value_map": fld.value_map,
                }
            )
        objects.append(
            {
                "cs_object": setting.cs_object,
                "external_object": setting.external_object,
                "direction": direction.value,
                "direction_label": direction.label(crm),
                "fields": fields,
                "exact_case_fields": _exact_case_fields(integration.kind, object_mapping),
            }
        )
    return {
        "name": integration.name,
        "kind": integration.kind,
        "header": crm,
        "enabled": integration.enabled,
        "toggle": "on" if integration.enabled else "off",
        "schedule": integration.schedule,
        "schedule_label": schedule_label(integration.schedule),
        "latest_pull": _when(integration.latest_pull_at),
        "next_pull": _when(_next_pull(integration)),
        "objects": objects,
        "mapping_file": str(path) if path else "(none: not a valid integration name)",
        "api_budget": budgets.describe(integration.kind, integration.account),
    }


def retry_note(page_data: dict[str, Any], cs_object: str, direction: str) -> str:
    """When a quarantined record of this object and direction (pull or push) is tried again."""
    obj = next(o for o in page_data["objects"] if o["cs_object"] == cs_object)
    why = why_overridden(page_data["enabled"], obj["direction"], direction)
    if why:  # the hierarchy stops this direction for now
        return f"not retried while {why}"
    crm, nxt = page_data["header"], page_data["next_pull"]
    when = f"the next pull ({nxt})" if nxt else "the next Pull now (the schedule is manual only)"
    if direction == FieldDirection.PUSH:
        return f"on {when}"
    return f"when the record changes in {crm} again, on the pull after that change (or by a backfill)"


def _summary(raw: dict[str, Any], limit: int = 160) -> str:
    values = [f"{k}={v}" for k, v in raw.items() if v not in (None, "", [], {}) and not isinstance(v, dict)]
    text = ", ".join(values)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problems(store: Store, name: str, limit: int = 20) -> list[dict[str, Any]]:
    """Per object: its latest run, what is in quarantine (what, why, when retried) and recent conflicts."""
    data = page(store, name)
    out = []
    for obj in data["objects"]:
        cs_object = obj["cs_object"]
        total, held = store.state.open_quarantine(name, cs_object, limit)
        conflicts = store.state.recent_conflicts(name, cs_object, limit)
        out.append(
            {
                "cs_object": cs_object,
                "external_object": obj["external_object"],
                "last_run": _run_data(store.state.latest_run(name, cs_object)),
                "quarantine_total": total,
                "quarantine": [_quarantine_data(data, cs_object, row) for row in held],
                "conflicts": [_conflict_data(data, cs_object, row) for row in conflicts],
            }
        )
    return out


def _run_data(run: Any) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "status": run.status,
        "mode": run.mode,
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "counts": run.counts,
        "message": run.message,
    }


def _quarantine_data(data: dict[str, Any], cs_object: str, row: Any) -> dict[str, Any]:
    return {
        "what": f"{row.direction} of {cs_object} record {row.record_key}",
        "record": _summary(row.raw),
        "why": row.reason,
        "rule": row.rule,
        "first_seen": _when(row.first_seen_at),
        "last_seen": _when(row.last_seen_at),
        "retry": retry_note(data, cs_object, row.direction),
    }


def _conflict_data(data: dict[str, Any], cs_object: str, row: Any) -> dict[str, Any]:
    return {
        "record": f"{cs_object} {row.cs_id} ↔ {data['header']} {row.external_id}",
        "field": row.field_name,
        "base_value": row.base_value,
        "cs_value": row.cs_value,
        "external_value": row.external_value,
        "policy": row.policy,
        "winner": "ClientSuccess" if row.winner == "cs" else data["header"],
        "detected_at": _when(row.detected_at),
    }


def fields(store: Store, name: str, cs_object: str) -> dict[str, Any]:
    """Item 9, import: the external object's fields from the live API (``crmsync fields``)."""
    from crmsync.fields import remote_fields

    return remote_fields(store, name, cs_object)


def preview(store: Store, name: str, cs_object: str | None = None) -> dict[str, Any]:
    """Item 9, sync preview: what a sync would do on each side; writes nothing (``crmsync preview``)."""
    from crmsync.sync.preview import preview_integration

    return preview_integration(store, name, cs_object)
