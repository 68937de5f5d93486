"""Field import: an external object's fields from the live API, and suggestions for the mapping file.

``remote_fields`` lists what ``connector.describe`` says (name, label, type, exact-case options);
``write_suggestions`` adds the unmapped ones to the integration's mapping file as commented
lines, leaving every existing byte as it was; ``remote_problems`` checks a mapping against the CRM.
"""

from __future__ import annotations

import re
from typing import Any

from crmsync import config

SUGGESTION = "      # - {{cs: ?, external: {name}, direction: pull}}  # suggested: {label} ({type}){options}"


def _object_mapping(store: Any, integration: str, cs_object: str) -> tuple[Any, str]:
    from crmsync.mapping.files import load_integration_mapping

    row = store.settings.integration(integration)
    external = store.settings.object_setting(integration, cs_object).external_object
    return load_integration_mapping(integration, row.kind).for_object(cs_object, external), external


def remote_fields(store: Any, integration: str, cs_object: str) -> dict[str, Any]:
    """The external object's fields from the live API, each marked mapped or not."""
    from crmsync.connectors import open_connector

    mapping, external = _object_mapping(store, integration, cs_object)
    mapped = {f.external for f in mapping.fields} if mapping else set()
    described = open_connector(store.settings.integration(integration).kind).describe(external)
    fields = [
        {
            "name": f.name,
            "label": f.label,
            "type": f.type,
            "options": list(f.options),
            "mapped": f.name in mapped,
            "read_only": f.read_only,
        }
        for f in described
    ]
    return {"integration": integration, "cs_object": cs_object, "external_object": external, "fields": fields}


def _block_end(lines: list[str], cs_object: str, external: str) -> int | None:
    """The index after the last non-blank line of this object's entry in the mapping file."""
    start = None
    for i, line in enumerate(lines):
        if start is None:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if (
                re.fullmatch(rf"\s*- cs_object: {cs_object}\s*", line)
                and f"external_object: {external}" in following
            ):
                start = i
            continue
        if line.strip() and not line.startswith("    ") and not line.startswith("      "):
            break
    else:
        i = len(lines)
    if start is None:
        return None
    end = i
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def write_suggestions(fields: dict[str, Any]) -> list[str]:
    """Add the unmapped fields as commented suggestions under the object's entry; returns their names."""
    from crmsync.errors import ConfigError

    path = config.mapping_path(fields["integration"])
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    end = _block_end(lines, fields["cs_object"], fields["external_object"])
    if end is None:
        raise ConfigError(f"{path}: no entry for {fields['cs_object']} -> {fields['external_object']}")
    present = set(re.findall(r"external: ([\w.]+)", text))
    new = [f for f in fields["fields"] if not f["mapped"] and f["name"] not in present]
    if not new:
        return []
    added = [_suggestion(f) for f in new]
    if end and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines[end:end] = added
    path.write_text("".join(lines), encoding="utf-8")
    return [f["name"] for f in new]


def _suggestion(field: dict[str, Any]) -> str:
    options = f": {', '.join(field['options'])}" if field["options"] else ""
    label = " ".join(str(field["label"]).split())
    return SUGGESTION.format(name=field["name"], label=label, type=field["type"], options=options) + "\n"


def remote_problems(store: Any, integration: str) -> list[str]:
    """Mapped fields the CRM no longer has, and value-map targets that are not one of its options."""
    from crmsync.connectors import open_connector

    path = config.mapping_path(integration)
    connector = open_connector(store.settings.integration(integration).kind)
    problems = []
    for setting in store.settings.object_settings(integration):
        mapping, external = _object_mapping(store, integration, setting.cs_object)
        if mapping is None:
            continue
        live = {f.name: f for f in connector.describe(external)}
        for field in mapping.fields:
            where = f"{path}: {setting.cs_object} -> {external}: {field.external}"
            if field.external not in live:
                problems.append(f"{where}: no such field in the CRM any more")
                continue
            options = live[field.external].options
            bad = [v for v in (field.value_map or {}).values() if options and v not in options]
            problems += [
                f"{where}: value_map target {v!r} is not an option ({', '.join(options)})" for v in bad
            ]
    return problems
