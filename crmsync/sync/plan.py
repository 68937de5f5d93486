"""What one run of one integration × object will do, decided once from settings and mappings.

The plan applies the direction hierarchy (``effective_direction``) to every field mapping,
so that later steps only ask "does this field pull?" and "does it push?".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from crmsync.mapping.spec import FieldMapping, ObjectMapping
from crmsync.settings import Effective, ObjectDirection, effective_direction
from crmsync.store.types import Scope


@cache
def cs_kind(cs_object: str, field: str) -> str:
    """The value kind of a CS column: text, int, number or date."""
    import sqlalchemy as sa

    from crmsync.models import CS_MODELS

    column_type = CS_MODELS[cs_object].__table__.columns[field].type
    if isinstance(column_type, sa.Integer):
        return "int"
    if isinstance(column_type, sa.Numeric):
        return "number"
    if isinstance(column_type, sa.Date):
        return "date"
    return "text"


@cache
def column_bounds(cs_object: str, field: str) -> float | int | None:
    """What a CS column can hold: the length of a text column, the exclusive magnitude bound of a number."""
    import sqlalchemy as sa

    from crmsync.models import CS_MODELS

    column_type = CS_MODELS[cs_object].__table__.columns[field].type
    if isinstance(column_type, sa.BigInteger):
        return 2**63 - 1
    if isinstance(column_type, sa.Integer):
        return 2**31  # PostgreSQL INTEGER: -2**31 .. 2**31 - 1
    if isinstance(column_type, sa.Numeric):
        if column_type.precision is None:
            return None
        return 10 ** (column_type.precision - (column_type.scale or 0))
    return getattr(column_type, "length", None)


@dataclass(frozen=True)
class FieldPlan:
    """One field mapping with its effective direction and the kind of its CS values."""

    mapping: FieldMapping
    effective: Effective
    kind: str

    @property
    def cs(self) -> str:
        return self.mapping.cs

    @property
    def external(self) -> str:
        return self.mapping.external

    @property
    def two_way(self) -> bool:
        return self.effective is Effective.BOTH


@dataclass(frozen=True)
class ObjectPlan:
    """One integration × object: where it points, which fields pull and push, how records link."""

    integration: str
    crm: str  # display name, e.g. HubSpot
    cs_object: str
    external_object: str
    direction: ObjectDirection
    mapping: ObjectMapping
    fields: tuple[FieldPlan, ...]
    key_field: str | None  # the CRM field that holds the ClientSuccess id, if the object has one
    parent_external_object: str | None = None  # what the parent (clients) points at, for children

    @property
    def pull_fields(self) -> tuple[FieldPlan, ...]:
        return tuple(f for f in self.fields if f.effective.pulls)

    @property
    def push_fields(self) -> tuple[FieldPlan, ...]:
        return tuple(f for f in self.fields if f.effective.pushes)

    @property
    def label(self) -> str:
        return f"{self.integration} · {self.cs_object}"

    @property
    def scope(self) -> Scope:
        """What this object's links and cursors belong to."""
        return Scope(self.integration, self.cs_object, self.external_object)

    @property
    def parent_scope(self) -> Scope | None:
        """The scope of the parent's links (contacts -> clients), for objects with a parent."""
        if not self.mapping.parent or not self.parent_external_object:
            return None
        return Scope(self.integration, self.mapping.parent.cs_object, self.parent_external_object)

    def read_fields(self) -> list[str]:
        """The external fields a pull reads: mapped pull fields, the key, the match and parent fields."""
        names = [f.external for f in self.pull_fields]
        if self.key_field:
            names.append(self.key_field)
        if self.mapping.match:
            names.append(self.mapping.match.external)
        if self.mapping.parent and self.mapping.parent.external_field:
            names.append(self.mapping.parent.external_field)
        return list(dict.fromkeys(names))


def build_plan(
    integration: str,
    crm: str,
    enabled: bool,
    direction: str,
    mapping: ObjectMapping,
    key_field: str | None,
    parent_external_object: str | None = None,
) -> ObjectPlan:
    """Apply the direction hierarchy to each field of an object mapping."""
    fields = tuple(
        FieldPlan(f, effective_direction(enabled, direction, f.direction), cs_kind(mapping.cs_object, f.cs))
        for f in mapping.fields
    )
    return ObjectPlan(
        integration=integration,
        crm=crm,
        cs_object=mapping.cs_object,
        external_object=mapping.external_object,
        direction=ObjectDirection(direction),
        mapping=mapping,
        fields=fields,
        key_field=key_field,
        parent_external_object=parent_external_object if mapping.parent else None,
    )
