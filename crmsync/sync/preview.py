"""Sync preview: the run path of a sync with writes switched off at the store and the connector.

``PREVIEW`` is the plain ``Steps`` table with the writing steps swapped for ones that record
what they would have written into the context's ``PreviewReport``: ``load`` decides the pull
(``decide_pull``) but does not apply it, ``write_crm`` sends nothing, ``commit_push`` reports
the planned requests and the rejections. The context's store and connector are read-only
views (``crmsync.sync.readonly``), so any write that slips through raises instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crmsync.sync import pull
from crmsync.sync.counts import PullCounts, PushCounts
from crmsync.sync.steps import PLAIN, chunk_puller

if TYPE_CHECKING:
    from crmsync.connectors.base import WriteResult
    from crmsync.sync import push
    from crmsync.sync.context import RunContext
    from crmsync.validation import ValidationResult

TABLE_DIFFS = 50  # field diffs per object in a table; --json and the report keep all of them


@dataclass
class SidePreview:
    """What one side (pull: into ClientSuccess, push: into the CRM) would do, with field diffs."""

    create: int = 0
    update: int = 0
    unchanged: int = 0
    quarantine: int = 0
    conflict: int = 0
    diffs: list[dict[str, Any]] = field(default_factory=list)  # change, record, field, old, new
    problems: list[dict[str, Any]] = field(default_factory=list)  # record, rule, reason


@dataclass
class PreviewReport:
    """One object's preview: both sides, and the values the CRM's live options would reject."""

    cs_object: str
    external_object: str
    pull: SidePreview = field(default_factory=SidePreview)
    push: SidePreview = field(default_factory=SidePreview)
    rejected_options: list[dict[str, Any]] = field(default_factory=list)  # record, reason
    deletes: int = 0  # linked records the CRM archived or deleted since the last run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plain(value: Any) -> Any:
    """A value as JSON and a table show it (dates as ISO text, decimals as text, NA as None)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def load(
    ctx: RunContext, chunk: pull.PullChunk, checked: ValidationResult, options: pull.LoadOptions
) -> PullCounts:
    """Decide the chunk's pull exactly as a sync does, and report it instead of committing it."""
    batch, counts = pull.decide_pull(ctx.store, ctx.plan, chunk, checked.valid, checked.failures)
    side = ctx.preview.pull
    side.create += counts.created
    side.update += counts.updated
    side.unchanged += counts.unchanged
    side.quarantine += counts.quarantined
    side.conflict += counts.conflicts
    names = [f.cs for f in ctx.plan.pull_fields]
    for create in batch.creates:
        eid = create["_link"]["external_id"]
        side.diffs += [_diff("create", eid, n, None, create.get(n)) for n in names if n in create]
    side.diffs += _update_diffs(ctx, batch.updates)
    side.diffs += [
        _diff("conflict", c["external_id"], c["field_name"], c["cs_value"], c["external_value"], c["winner"])
        for c in batch.conflicts
    ]
    side.problems += [_problem(q["record_key"], q["rule"], q["reason"]) for q in batch.quarantine]
    return counts


def _update_diffs(ctx: RunContext, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Field-level diffs of pulled updates against the current ClientSuccess values."""
    if not updates:
        return []
    names = sorted({k for u in updates for k in u if k != "id"})
    current = ctx.store.records.cs_frame(ctx.plan.cs_object, [u["id"] for u in updates], names)
    diffs = []
    for update in updates:
        now = current.loc[update["id"]] if update["id"] in current.index else {}
        for name in names:
            if name in update and plain(now.get(name)) != plain(update[name]):
                diffs.append(_diff("update", update["id"], name, now.get(name), update[name]))
    return diffs


def _diff(
    change: str, record: Any, name: str, old: Any, new: Any, winner: str | None = None
) -> dict[str, Any]:
    row = {"change": change, "record": str(record), "field": name, "old": plain(old), "new": plain(new)}
    if winner:
        row["winner"] = winner
    return row


def _problem(record: Any, rule: str, reason: str) -> dict[str, Any]:
    return {"record": str(record), "rule": rule, "reason": reason}


def link_parked(ctx: RunContext) -> int:
    """Parked children are linked by a real sync only: nothing to do in a preview."""
    return 0


def apply_deletes(ctx: RunContext) -> int:
    """Count the linked records the CRM archived or deleted since the last run, unlinking nothing."""
    if ctx.plan.mapping.on_delete == "ignore":
        return 0
    since, _ = ctx.store.state.cursor(ctx.scope, "deleted")
    ids = [r.id for batch in ctx.connector.read_deleted(ctx.plan.external_object, since) for r in batch]
    ctx.preview.deletes = len(ctx.store.state.links_by_external(ctx.scope, ids)) if ids else 0
    return ctx.preview.deletes


def write_crm(ctx: RunContext, decided: push.PushPlan) -> list[WriteResult]:
    """Send nothing: ``commit_push`` reports the planned requests."""
    return []


def commit_push(
    ctx: RunContext, chunk: push.PushChunk, decided: push.PushPlan, results: list[WriteResult], run_id: str
) -> PushCounts:
    """Report the chunk's planned writes (with diffs against the last-synced values) and rejections."""
    side, to_cs = ctx.preview.push, {f.external: f.cs for f in ctx.plan.push_fields}
    created = 0
    for request in decided.requests:
        link = chunk.links.get(int(request.key))
        change = "update" if link is not None else "create"
        created += change == "create"
        synced = link.synced_values if link is not None else {}
        side.diffs += [
            _diff(change, request.key, name, synced.get(to_cs.get(name, name)), value)
            for name, value in request.values.items()
        ]
    for key, reason, rule in decided.rejected[["reason", "rule"]].itertuples():
        side.problems.append(_problem(key, rule, reason))
        if rule == "crm_option_match":
            ctx.preview.rejected_options.append({"record": str(key), "reason": reason})
    counts = PushCounts(
        considered=chunk.read,
        unchanged=decided.unchanged,
        created=created,
        updated=len(decided.requests) - created,
        quarantined=len(decided.rejected),
    )
    side.create, side.update = side.create + counts.created, side.update + counts.updated
    side.unchanged, side.quarantine = side.unchanged + counts.unchanged, side.quarantine + counts.quarantined
    return counts


PREVIEW = replace(
    PLAIN,
    pull_chunk=chunk_puller(load),
    link_parked=link_parked,
    apply_deletes=apply_deletes,
    write_crm=write_crm,
    commit_push=commit_push,
)


def preview_object(store: Any, integration: str, cs_object: str, steps: Any = PREVIEW) -> dict[str, Any]:
    """Preview one object through the sync's run path, on read-only views of the store and the CRM."""
    from crmsync.connectors import open_connector
    from crmsync.sync.context import open_context
    from crmsync.sync.readonly import ReadOnlyStore, read_only_connector
    from crmsync.sync.runner import run_object

    kind = store.settings.integration(integration).kind
    ctx = open_context(
        ReadOnlyStore(store), integration, cs_object, lambda: read_only_connector(open_connector(kind))
    )
    ctx.preview = PreviewReport(cs_object, ctx.plan.external_object)
    result = run_object(ctx, steps)
    return {**ctx.preview.as_dict(), "status": result["status"]}


def preview_integration(
    store: Any, integration: str, cs_object: str | None = None, steps: Any = PREVIEW
) -> dict[str, Any]:
    """Preview every object of an integration (or one), in dependency order; writes nothing."""
    settings = store.settings.object_settings(integration)
    if cs_object:
        settings = [store.settings.object_setting(integration, cs_object)]
    objects = [preview_object(store, integration, s.cs_object, steps) for s in settings]
    return {"integration": integration, "objects": objects}


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per object and side: what a sync would create, update, leave, reject or flag."""
    rows = []
    for obj in result["objects"]:
        for side, into in (("pull", "ClientSuccess"), ("push", obj["external_object"])):
            counts = {k: obj[side][k] for k in ("create", "update", "unchanged", "quarantine", "conflict")}
            rows.append(
                {"object": obj["cs_object"], "side": f"{side} into {into}", "status": obj["status"], **counts}
            )
    return rows


def diff_rows(result: dict[str, Any], limit: int | None = TABLE_DIFFS) -> list[dict[str, Any]]:
    """The field-level diffs, the first ``limit`` per object and side (all with ``None``)."""
    rows = []
    for obj in result["objects"]:
        for side in ("pull", "push"):
            diffs = obj[side]["diffs"][:limit] if limit else obj[side]["diffs"]
            rows += [{"object": obj["cs_object"], "side": side, **d} for d in diffs]
    return rows
