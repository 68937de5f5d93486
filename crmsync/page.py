"""The configuration page: its items as data and its actions, shared by the CLI and the web page.

Each action validates before it writes, and touches only the integration it names.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Any

from crmsync import config
from crmsync.errors import ConfigError
from crmsync.mapping.files import load_integration_mapping
from crmsync.mapping.spec import MappingError, MappingFile, load_mapping
from crmsync.settings import KINDS, ObjectDirection, effective_direction, schedule_label
from crmsync.store import Store


def integration_mapping(store: Store, name: str) -> MappingFile:
    """The validated field mappings of an integration (its own file under CRMSYNC_HOME)."""
    return load_integration_mapping(name, store.settings.integration(name).kind)


def connect(store: Store, kind: str, name: str | None = None) -> dict[str, Any]:
    """Record an integration with its kind's default objects and copy its default field mappings."""
    if kind not in KINDS:
        raise ConfigError(f"unknown integration kind '{kind}' (valid: {', '.join(KINDS)})")
    name = name or kind
    template = config.default_mapping_path(kind)
    mapping = load_mapping(template)  # a broken default fails here, before anything is written
    pointing = {
        cs_object: external
        for cs_object in ("clients", "contacts", "subscriptions")
        if (external := mapping.default_external_object(cs_object))
    }
    store.settings.connect(kind, name, pointing)
    target = config.mapping_path(name)
    if not target.exists():  # keep a file a user already edited, e.g. after delete + connect
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
    return page(store, name)


def check_credentials(kind: str) -> str | None:
    """One cheap API call with the configured credentials: a description of the account, or None
    when no credentials are configured. Bad credentials, an unreachable host or an untrusted
    certificate raise a one-line ConnectorError."""
    from crmsync.connectors import open_connector
    from crmsync.connectors.base import AuthError

    try:
        connector = open_connector(kind)
    except AuthError:  # nothing configured yet: connecting still records the settings
        return None
    return connector.check()


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
    config.mapping_path(name).unlink(missing_ok=True)


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def page(store: Store, name: str) -> dict[str, Any]:
    """Items 1-8 of the configuration page for one integration, as plain data."""
    integration = store.settings.integration(name)
    crm = integration.header
    path = config.mapping_path(name)
    mapping = load_mapping(path) if path.exists() else None
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
                }
            )
        objects.append(
            {
                "cs_object": setting.cs_object,
                "external_object": setting.external_object,
                "direction": direction.value,
                "direction_label": direction.label(crm),
                "fields": fields,
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
        "next_pull": _when(integration.next_pull_at),
        "objects": objects,
        "mapping_file": str(path),
    }
