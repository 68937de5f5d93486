"""The field-mapping schema (``mappings/*.yaml``), validated on load with one-line errors.

An error names the file, the YAML path and the problem, e.g.::

    mappings/hubspot.yaml: objects[0].fields[2].cs: unknown ClientSuccess field 'stauts' for clients
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crmsync.errors import CrmsyncError
from crmsync.mapping.transforms import TRANSFORMS
from crmsync.settings import KINDS, FieldDirection

ConflictPolicy = Literal["newest", "cs_wins", "external_wins"]
DeletePolicy = Literal["ignore", "unlink", "flag"]
SYSTEM_FIELDS = {"id", "created_at", "updated_at"}
JSON_FIELDS = {"custom"}  # a JSON column holds many values; mapping one field onto it would overwrite them
MAX_MAPPING_BYTES = 1_000_000  # a mapping is a few kB; refuse a huge file before reading it


class MappingError(CrmsyncError):
    """A mapping file is wrong; the message is one line naming file, path and problem."""


def cs_fields(cs_object: str) -> list[str]:
    """The fields of a ClientSuccess object that a mapping may name."""
    from crmsync.models import CS_MODELS

    return [n for n in CS_MODELS[cs_object].model_fields if n not in SYSTEM_FIELDS | JSON_FIELDS]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """One CS field <-> one external field, with its own direction."""

    cs: str
    external: str
    direction: FieldDirection
    value_map: dict[str, str] | None = None  # CS value -> exact-case external value
    transform: str | None = None  # applied to pulled values (external -> CS)
    push_transform: str | None = None  # applied to pushed values (CS -> external)
    conflict_policy: ConflictPolicy | None = None  # two-way fields only; default newest

    @model_validator(mode="after")
    def _check(self) -> FieldMapping:
        for key in ("transform", "push_transform"):
            name = getattr(self, key)
            if name is not None and name not in TRANSFORMS:
                raise _PathError(key, f"unknown transform '{name}' (known: {', '.join(sorted(TRANSFORMS))})")
        if self.conflict_policy and self.direction is not FieldDirection.BOTH:
            raise _PathError("conflict_policy", "a conflict policy only applies to a two-way (both) field")
        if self.value_map and self.direction is FieldDirection.BOTH:
            _check_one_to_one(self.value_map)
        return self

    @property
    def policy(self) -> ConflictPolicy:
        return self.conflict_policy or "newest"


def _check_one_to_one(value_map: dict[str, str]) -> None:
    """A two-way value map must invert: pulled values are matched case-insensitively."""
    repeated = [v for v, n in Counter(value_map.values()).items() if n > 1]
    if repeated:
        raise _PathError(
            "value_map",
            f"not one-to-one for a two-way field: external value '{repeated[0]}' appears twice",
        )
    first: dict[str, str] = {}
    for value in value_map.values():
        other = first.setdefault(value.casefold(), value)
        if other != value:
            raise _PathError(
                "value_map",
                f"not one-to-one for a two-way field: external values '{other}' and '{value}' "
                "differ only in case, and pulled values are compared ignoring case",
            )


class MatchKey(_Strict):
    """How a never-linked record finds its partner on first sync (compared case-insensitively)."""

    cs: str
    external: str


class ParentLink(_Strict):
    """How a child finds its parent: contact -> client through an association or a lookup field."""

    cs_field: str  # e.g. client_id
    cs_object: Literal["clients"] = "clients"
    association: str | None = None  # HubSpot: the associated object type, e.g. companies
    external_field: str | None = None  # Salesforce: the lookup field, e.g. AccountId

    @model_validator(mode="after")
    def _one_way(self) -> ParentLink:
        if (self.association is None) == (self.external_field is None):
            raise _PathError("", "give exactly one of 'association' or 'external_field'")
        return self


class ObjectMapping(_Strict):
    """One CS object pointed at one external object, with its field mappings."""

    cs_object: Literal["clients", "contacts", "subscriptions"]
    external_object: str
    match: MatchKey | None = None
    parent: ParentLink | None = None
    on_delete: DeletePolicy = "unlink"
    fields: list[FieldMapping] = Field(min_length=1)

    def field(self, cs: str) -> FieldMapping:
        return next(f for f in self.fields if f.cs == cs)


class MappingFile(_Strict):
    """A whole mapping file: the kind of CRM and its object mappings."""

    kind: str
    objects: list[ObjectMapping]

    def for_object(self, cs_object: str, external_object: str) -> ObjectMapping | None:
        """The mapping of this CS object onto this external object, if the file has one."""
        return next(
            (m for m in self.objects if m.cs_object == cs_object and m.external_object == external_object),
            None,
        )

    def default_external_object(self, cs_object: str) -> str | None:
        """The first external object the file maps this CS object to: its default pointing."""
        return next((m.external_object for m in self.objects if m.cs_object == cs_object), None)


class _PathError(ValueError):
    """A problem found by a validator, relative to the part it validates."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path, self.problem = path, problem


def _check_semantics(mapping: MappingFile) -> None:
    """Checks that need the kind and the CS models: raises _PathError with a full path."""
    if mapping.kind not in KINDS:
        raise _PathError("kind", f"unknown integration kind '{mapping.kind}' (known: {', '.join(KINDS)})")
    externals = KINDS[mapping.kind].external_objects
    seen_pairs: set[tuple[str, str]] = set()
    for i, obj in enumerate(mapping.objects):
        at = f"objects[{i}]"
        if obj.external_object not in externals:
            raise _PathError(
                f"{at}.external_object",
                f"unknown {KINDS[mapping.kind].header} object '{obj.external_object}' "
                f"(known: {', '.join(externals)})",
            )
        pair = (obj.cs_object, obj.external_object)
        if pair in seen_pairs:
            raise _PathError(at, f"{obj.cs_object} -> {obj.external_object} is mapped twice")
        seen_pairs.add(pair)
        valid = cs_fields(obj.cs_object)
        for j, fld in enumerate(obj.fields):
            if fld.cs in JSON_FIELDS:
                raise _PathError(
                    f"{at}.fields[{j}].cs",
                    f"'{fld.cs}' is a JSON column of several values and cannot be mapped to one field",
                )
            if fld.cs not in valid:
                raise _PathError(
                    f"{at}.fields[{j}].cs",
                    f"unknown ClientSuccess field '{fld.cs}' for {obj.cs_object} (known: {', '.join(valid)})",
                )
        _check_unique(at, obj)
        if obj.match and obj.match.cs not in valid:
            raise _PathError(
                f"{at}.match.cs", f"unknown ClientSuccess field '{obj.match.cs}' for {obj.cs_object}"
            )
        if obj.parent and obj.parent.cs_field not in valid:
            raise _PathError(
                f"{at}.parent.cs_field",
                f"unknown ClientSuccess field '{obj.parent.cs_field}' for {obj.cs_object}",
            )


def _check_unique(at: str, obj: ObjectMapping) -> None:
    """A CS field is mapped once; an external field receives at most one pulled or pushed value."""
    first_cs: dict[str, int] = {}
    first_external: dict[str, int] = {}
    for j, fld in enumerate(obj.fields):
        if fld.cs in first_cs:
            raise _PathError(
                f"{at}.fields[{j}].cs",
                f"field '{fld.cs}' is mapped twice (first at fields[{first_cs[fld.cs]}])",
            )
        first_cs[fld.cs] = j
        if fld.direction is not FieldDirection.PULL:
            if fld.external in first_external:
                raise _PathError(
                    f"{at}.fields[{j}].external",
                    f"external field '{fld.external}' is pushed twice "
                    f"(first at fields[{first_external[fld.external]}])",
                )
            first_external[fld.external] = j


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("function-", "model-")):
            path += f".{part}" if path else str(part)
    return path


def _join(base: str, tail: str) -> str:
    return f"{base}.{tail}" if base and tail else base or tail


def parse_mapping(data: Any, source: str) -> MappingFile:
    """Validate already-loaded YAML data; ``source`` names the file in errors."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: the file must be a mapping with 'kind' and 'objects'")
    try:
        mapping = MappingFile.model_validate(data)
        _check_semantics(mapping)
    except _PathError as exc:
        raise MappingError(f"{source}: {exc.path}: {exc.problem}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _loc_to_path(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, _PathError):
            raise MappingError(f"{source}: {_join(loc, cause.path)}: {cause.problem}") from None
        raise MappingError(
            f"{source}: {loc or '(top)'}: {err['msg'].removeprefix('Value error, ')}"
        ) from None
    return mapping


def load_mapping(path: Path | str) -> MappingFile:
    """Read and validate one mapping file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MAPPING_BYTES:
            raise MappingError(
                f"{path}: the file is too large ({size:,} bytes; the limit is {MAX_MAPPING_BYTES:,})"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(top)"
        raise MappingError(f"{path}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_mapping(data, str(path))
