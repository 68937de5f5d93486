"""``crmsync explain``: one record on both sides, field by field, with its history and verdicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crmsync.audit.sides import crm_fields, crm_frame, read_cs
from crmsync.audit.verdict import FieldValues, RecordState, direction_row, verdict
from crmsync.errors import CrmsyncError
from crmsync.models import CS_MODELS, QuarantineRecord, RecordEvent, RecordLink, SyncRun
from crmsync.store.state import in_scope

if TYPE_CHECKING:
    from crmsync.store import Store
    from crmsync.sync.context import RunContext
    from crmsync.sync.plan import ObjectPlan


class NotFound(CrmsyncError):
    """No record answers to the id given."""


def explain(ctx: RunContext, ident: str) -> dict[str, Any]:
    """Everything about one record: both sides, last-synced values, directions, verdicts, history."""
    plan, store = ctx.plan, ctx.store
    cs_id, external_id = resolve(ctx, ident)
    link = _link(store, plan, cs_id, external_id)
    if link is not None:
        cs_id, external_id = link.cs_id, link.external_id
    cs = read_cs(store, plan, [cs_id]) if cs_id is not None else None
    cs_row = cs.loc[cs_id].to_dict() if cs is not None and cs_id in cs.index else None
    crm_row = _crm_row(ctx, external_id)
    quarantine = quarantine_entries(store, plan, cs_id, external_id)
    record = RecordState(
        crm=plan.crm,
        enabled=ctx.integration.enabled,
        object_direction=plan.direction.value,
        linked=link is not None,
        crm_exists=crm_row is not None,
        cs_exists=cs_row is not None,
        quarantine=next((q["reason"] for q in quarantine if q["replayed_at"] is None), None),
    )
    synced = link.synced_values if link else {}
    fields = [_field(f, cs_row, crm_row, synced, record) for f in plan.fields]
    return {
        "integration": plan.integration,
        "object": plan.cs_object,
        "external_object": plan.external_object,
        "cs_id": cs_id,
        "external_id": external_id,
        "linked": link is not None,
        "synced_at": link.synced_at if link else None,
        "fields": fields,
        "quarantine": quarantine,
        "history": history(store, plan, cs_id, external_id),
    }


def _field(field: Any, cs_row: dict | None, crm_row: dict | None, synced: dict, record: RecordState) -> dict:
    values = FieldValues(
        cs=(cs_row or {}).get(field.cs),
        crm=(crm_row or {}).get(f"cs:{field.cs}"),
        synced=synced.get(field.cs),
        known=field.cs in synced,
    )
    return {
        "field": field.cs,
        "crm_field": field.external,
        **direction_row(field, record.enabled, record.object_direction),
        "cs_value": values.cs,
        "crm_value": values.crm,
        "crm_raw": (crm_row or {}).get(field.external),
        "synced_value": values.synced,
        "verdict": verdict(field, values, record),
    }


def resolve(ctx: RunContext, ident: str) -> tuple[int | None, str | None]:
    """(CS id, CRM id) of a ClientSuccess id, a CRM id or a match key; ``cs:`` / ``crm:`` force a side."""
    plan, store = ctx.plan, ctx.store
    side, _, value = ident.partition(":") if ident.startswith(("cs:", "crm:")) else ("", "", ident)
    value = value.strip()
    if not value:
        raise NotFound("give a ClientSuccess id, a CRM id or a match key")
    cs_hit = side != "crm" and value.isdigit() and _cs_exists(store, plan, int(value))
    crm_hit = side != "cs" and _link(store, plan, None, value) is not None
    if cs_hit and crm_hit:
        raise NotFound(
            f"{value} is both a ClientSuccess id and a {plan.crm} id; write cs:{value} or crm:{value}"
        )
    if cs_hit or (side == "cs" and value.isdigit() and _link(store, plan, int(value), None)):
        return int(value), None
    if crm_hit:
        return None, value
    found = _by_match_key(store, plan, value) if side != "crm" else None
    if found is not None:
        return found, None
    if side != "cs" and _read_crm(ctx, value):
        return None, value
    raise NotFound(f"no {plan.cs_object} record answers to {value!r} in {plan.integration}")


def _cs_exists(store: Store, plan: ObjectPlan, cs_id: int) -> bool:
    table = CS_MODELS[plan.cs_object].__table__
    with store.engine.connect() as conn:
        return conn.execute(sa.select(table.c.id).where(table.c.id == cs_id)).first() is not None


def _by_match_key(store: Store, plan: ObjectPlan, value: str) -> int | None:
    """The oldest CS record whose match key (domain, email) equals ``value``, case-insensitively."""
    if not plan.mapping.match:
        return None
    table = CS_MODELS[plan.cs_object].__table__
    column = table.c[plan.mapping.match.cs]
    statement = sa.select(table.c.id).where(sa.func.lower(column) == value.lower()).order_by(table.c.id)
    with store.engine.connect() as conn:
        return conn.execute(statement.limit(1)).scalar()


def _link(store: Store, plan: ObjectPlan, cs_id: int | None, external_id: str | None) -> RecordLink | None:
    if cs_id is None and external_id is None:
        return None
    where = RecordLink.cs_id == cs_id if cs_id is not None else RecordLink.external_id == external_id
    with store.session() as s:
        return s.exec(sa.select(RecordLink).where(*in_scope(plan.scope), where)).scalars().first()


def _read_crm(ctx: RunContext, external_id: str) -> list:
    # read_by_ids is not on the five-method interface; both connectors have it.
    return ctx.connector.read_by_ids(ctx.plan.external_object, [external_id], crm_fields(ctx.plan))


def _crm_row(ctx: RunContext, external_id: str | None) -> dict[str, Any] | None:
    """The CRM record read live by id: raw values and each field in CS form (``cs:<field>``)."""
    records = _read_crm(ctx, external_id) if external_id else []
    if not records:
        return None
    return crm_frame(records, ctx.plan).iloc[-1].to_dict()


def quarantine_entries(
    store: Store, plan: ObjectPlan, cs_id: int | None, external_id: str | None
) -> list[dict]:
    """The record's quarantine entries, both directions, with their reasons and replays."""
    keys = [("push", None if cs_id is None else str(cs_id)), ("pull", external_id)]
    wanted = sa.or_(
        *(sa.and_(QuarantineRecord.direction == d, QuarantineRecord.record_key == k) for d, k in keys if k)
    )
    q = QuarantineRecord
    columns = [q.direction, q.reason, q.rule, q.run_id, q.first_seen_at, q.last_seen_at, q.replayed_at]
    statement = sa.select(*columns).where(
        q.integration == plan.integration, q.cs_object == plan.cs_object, wanted
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(statement.order_by(q.id))]


def history(store: Store, plan: ObjectPlan, cs_id: int | None, external_id: str | None) -> list[dict]:
    """The runs that pulled or pushed the record: each event with the values written, oldest first."""
    e = RecordEvent
    ids = [e.cs_id == cs_id] if cs_id is not None else []
    ids += [e.external_id == external_id] if external_id is not None else []
    columns = [e.at, e.run_id, SyncRun.mode, SyncRun.flow_run_id, e.direction, e.action, e.values]
    statement = (
        sa.select(*columns)
        .outerjoin(SyncRun, SyncRun.id == e.run_id)
        .where(e.integration == plan.integration, e.cs_object == plan.cs_object, sa.or_(sa.false(), *ids))
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(statement.order_by(e.at, e.id))]
