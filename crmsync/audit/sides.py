"""Both sides of one integration × object as frames, compared through the pull's compiled mapping.

Values are compared in ClientSuccess form: CRM values go through ``to_cs`` (the same transforms
and value maps a pull applies) and CS values through ``canonical``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crmsync.connectors.base import Cursor
from crmsync.mapping.compile import EXTERNAL_ID, canonical, records_frame, same, to_cs
from crmsync.models import CS_MODELS, RecordLink
from crmsync.settings import Effective
from crmsync.store.state import in_scope

if TYPE_CHECKING:
    import pandas as pd

    from crmsync.connectors.base import ExternalRecord
    from crmsync.store import Store
    from crmsync.sync.plan import FieldPlan, ObjectPlan


def comparison_plan(plan: ObjectPlan) -> ObjectPlan:
    """The plan with every field read as if it pulled, so ``to_cs`` maps each of them."""
    return replace(plan, fields=tuple(replace(f, effective=Effective.BOTH) for f in plan.fields))


def crm_fields(plan: ObjectPlan) -> list[str]:
    """Every CRM field the object maps, with its key and match fields."""
    return list(dict.fromkeys([*(f.external for f in plan.fields), *comparison_plan(plan).read_fields()]))


def crm_frame(records: list[ExternalRecord], plan: ObjectPlan) -> pd.DataFrame:
    """CRM records as one frame: id, modified time, raw values, and each field as CS values (``cs:``)."""
    raw = records_frame(records, crm_fields(plan))
    as_cs = to_cs(comparison_plan(plan), raw)
    as_cs.columns = [f"cs:{name}" for name in as_cs.columns]
    return raw.join(as_cs).set_index(EXTERNAL_ID, drop=False)


def read_crm(connector: Any, plan: ObjectPlan) -> pd.DataFrame:
    """Every live CRM record of the object, from the beginning, at the connector's largest pages."""
    records: list[ExternalRecord] = []
    for page in connector.read_changed(plan.external_object, crm_fields(plan), Cursor()):
        records.extend(r for r in page.records if not r.deleted)  # a CRM may return its deletions too
    frame = crm_frame(records, plan)
    return frame[~frame.index.duplicated(keep="last")]  # a record edited during the read comes twice


def read_cs(store: Store, plan: ObjectPlan, ids: list[int] | None = None) -> pd.DataFrame:
    """CS records (all, or these ids) indexed by id: mapped fields in canonical form, and updated_at."""
    import pandas as pd

    table = CS_MODELS[plan.cs_object].__table__
    names = list(dict.fromkeys(f.cs for f in plan.fields))
    statement = sa.select(table.c.id, *(table.c[n] for n in names), table.c.updated_at)
    if ids is not None:
        statement = statement.where(table.c.id.in_(ids))
    with store.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(statement).all(), columns=["id", *names, "updated_at"])
    frame = frame.set_index("id")
    for f in plan.fields:
        frame[f.cs] = canonical(frame[f.cs], f.kind)
    return frame


def read_links(store: Store, plan: ObjectPlan) -> pd.DataFrame:
    """The object's links: cs_id, external_id, synced_values."""
    import pandas as pd

    columns = [RecordLink.cs_id, RecordLink.external_id, RecordLink.synced_values]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(*in_scope(plan.scope))).all()
    return pd.DataFrame(rows, columns=["cs_id", "external_id", "synced_values"])


def differs(field: FieldPlan, cs: pd.Series, crm: pd.Series) -> pd.Series:
    """True where a field's CS value and CRM value (in CS form) disagree."""
    return ~same(cs, crm, casefold=bool(field.mapping.value_map))
