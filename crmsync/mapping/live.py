"""A mapping checked against the CRM's live schema: every external field it names must exist.

Without it, a misspelt or deleted CRM property is pulled as null on every record, silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from crmsync.connectors.base import FieldInfo
from crmsync.mapping.spec import MappingError, MappingFile
from crmsync.settings import KINDS


class Describes(Protocol):
    """The one connector method this check needs."""

    def describe(self, obj: str) -> list[FieldInfo]: ...


def _named_fields(mapping: MappingFile) -> Iterator[tuple[str, str, str]]:
    """(YAML path, external object, external field) for every external field the mapping names."""
    for i, obj in enumerate(mapping.objects):
        at = f"objects[{i}]"
        for j, fld in enumerate(obj.fields):
            yield f"{at}.fields[{j}].external", obj.external_object, fld.external
        if obj.match:
            yield f"{at}.match.external", obj.external_object, obj.match.external
        if obj.parent and obj.parent.external_field:
            yield f"{at}.parent.external_field", obj.external_object, obj.parent.external_field


def check_live(mapping: MappingFile, connector: Describes, source: str) -> None:
    """Raise a one-line MappingError for the first external field the live schema does not have."""
    header = KINDS[mapping.kind].header
    known: dict[str, set[str]] = {}
    for path, obj, name in _named_fields(mapping):
        if obj not in known:  # one describe call per object
            known[obj] = {f.name for f in connector.describe(obj)}
        if name not in known[obj]:
            near = [k for k in known[obj] if k.casefold() == name.casefold()]
            hint = f" (did you mean '{near[0]}'?)" if near else " (create it in the CRM or fix the mapping)"
            raise MappingError(f"{source}: {path}: unknown {header} field '{name}' of {obj}{hint}")


class CachedSchema:
    """A connector's describe(), called at most once per object however many files are checked."""

    def __init__(self, connector: Describes) -> None:
        self.connector, self.fields = connector, {}

    def describe(self, obj: str) -> list[FieldInfo]:
        """The object's fields, described once."""
        if obj not in self.fields:
            self.fields[obj] = self.connector.describe(obj)
        return self.fields[obj]
