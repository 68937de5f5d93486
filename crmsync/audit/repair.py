"""Re-queue drifted records for the next sync; the next normal run repairs them.

A repair never writes a record on either side. It changes only the sync's own state:
- a link whose record is gone on one side is deleted;
- a drifted field's last-synced value is set to the losing side's value, so the next run's
  three-way merge sees only the winning side as changed and sends it;
- records the next run must read again are re-queued: a CS record through the push's retry
  list (a quarantine row with rule ``audit_requeue``), a CRM record by moving the pull
  cursor back to its modification time.
The winner of a field is its direction's source; a two-way field follows its conflict policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from crmsync.mapping.compile import MODIFIED_AT
from crmsync.models import RecordLink, utcnow
from crmsync.settings import Effective
from crmsync.store.state import in_scope
from crmsync.store.types import MODIFIED_SYNCED
from crmsync.store.writes import write_cursor, write_quarantine
from crmsync.sync.merge import _external_wins  # the conflict policy, not a copy of it

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from sqlmodel import Session

    from crmsync.audit.drift import Audit
    from crmsync.store import Store
    from crmsync.store.types import Scope

REQUEUE_RULE = "audit_requeue"


def repair(store: Store, audit: Audit) -> dict[str, int]:
    """Re-queue every drifted record of ``audit`` for the next sync; returns what was done."""
    drift, plan = audit.drift, audit.plan
    kind = drift["kind"]
    dangling = drift[kind.isin(["crm_missing", "cs_missing"])]["cs_id"].astype(int).tolist()
    fields, crm_wins = _field_fixes(audit)
    push_ids = set(drift[kind == "cs_unlinked"]["cs_id"].astype(int)) | set(fields.loc[~crm_wins, "cs_id"])
    pull_ids = set(drift[kind == "crm_unlinked"]["external_id"]) | set(fields.loc[crm_wins, "external_id"])
    if plan.push_fields:
        push_ids |= set(drift[kind == "crm_missing"]["cs_id"].astype(int))
    if plan.pull_fields:
        pull_ids |= set(drift[kind == "cs_missing"]["external_id"])
    cursor_at, _ = store.state.cursor(plan.scope, "pull")
    with store.session() as s:
        if dangling:
            s.exec(sa.delete(RecordLink).where(*in_scope(plan.scope), RecordLink.cs_id.in_(dangling)))
        _set_synced(s, audit, fields)
        _requeue_push(s, plan.scope, sorted(int(i) for i in push_ids))
        _rewind_pull(s, audit, sorted(pull_ids), cursor_at)
    return {
        "links_deleted": len(dangling),
        "fields_reset": len(fields),
        "requeued_push": len(push_ids),
        "requeued_pull": len(pull_ids),
    }


def _field_fixes(audit: Audit) -> tuple[pd.DataFrame, pd.Series]:
    """The drifted fields with the value the losing side holds; and per row, whether the CRM wins."""
    import pandas as pd

    fields = audit.drift[audit.drift["kind"] == "field"].reset_index(drop=True)
    wins = pd.Series(False, index=fields.index, dtype=bool)
    by_name = {f.cs: f for f in audit.plan.fields}
    for name, rows in fields.groupby("field"):
        field = by_name[name]
        if field.effective is Effective.BOTH:
            crm_at = audit.crm.loc[rows["external_id"], MODIFIED_AT].set_axis(rows.index)
            cs_at = pd.to_datetime(audit.cs.loc[rows["cs_id"], "updated_at"], utc=True).set_axis(rows.index)
            wins[rows.index] = _external_wins(field, pd.Series(True, index=rows.index), crm_at, cs_at)
        else:
            wins[rows.index] = field.effective is Effective.PULL
    fields["loser"] = fields["cs_value"].where(wins, fields["crm_value"])
    return fields, wins


def _set_synced(s: Session, audit: Audit, fields: pd.DataFrame) -> None:
    """Set each drifted field's last-synced value to the losing side's value."""
    import pandas as pd

    if fields.empty:
        return
    synced = dict(zip(audit.links["cs_id"], audit.links["synced_values"], strict=True))
    values: dict[int, dict] = {}
    for cs_id, name, loser in fields[["cs_id", "field", "loser"]].itertuples(index=False):
        values.setdefault(int(cs_id), dict(synced[int(cs_id)]))[name] = loser if pd.notna(loser) else None
    for value in values.values():
        value.pop(MODIFIED_SYNCED, None)  # the pull reads this version again instead of skipping it
    scope = audit.plan.scope
    statement = (
        sa.update(RecordLink)
        .where(*in_scope(scope), RecordLink.cs_id == sa.bindparam("_cs_id"))
        .values(synced_values=sa.bindparam("_values"))
    )
    s.connection().execute(statement, [{"_cs_id": k, "_values": v} for k, v in values.items()])


def _requeue_push(s: Session, scope: Scope, cs_ids: list[int]) -> None:
    """Put CS records on the push's retry list; a successful push marks them replayed."""
    rows = [
        {"record_key": str(i), "raw": {}, "reason": "re-queued by the audit", "rule": REQUEUE_RULE}
        for i in cs_ids
    ]
    now = utcnow()
    if rows:  # due at once: a re-queued record is not backing off
        write_quarantine(s, scope, "push", [{**row, "due_at": now} for row in rows], [], "audit", now)


def _rewind_pull(s: Session, audit: Audit, external_ids: list[str], at: datetime | None) -> None:
    """Move the pull cursor back to the oldest of these CRM records, so the next pull reads them."""
    live = [eid for eid in external_ids if eid in audit.crm.index]
    if not live:
        return
    oldest = audit.crm.loc[live, MODIFIED_AT].min().to_pydatetime()
    if at is not None and oldest < at:  # a record at or after the cursor is read anyway
        write_cursor(s, audit.plan.scope, "pull", (oldest, ""))
