"""Everything one run of one integration × object needs, gathered and checked before any work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmsync import config
from crmsync.errors import ConfigError
from crmsync.mapping.files import load_integration_mapping
from crmsync.mapping.spec import MappingError
from crmsync.sync.plan import ObjectPlan, build_plan

if TYPE_CHECKING:
    from pathlib import Path

    from crmsync.connectors.base import Connector
    from crmsync.mapping.spec import MappingFile
    from crmsync.models import Integration, ObjectSetting
    from crmsync.store import Store
    from crmsync.store.types import Scope
    from crmsync.sync.preview import PreviewReport

Progress = Callable[[str, str, int], None]  # (label, phase, records done in this step)


@dataclass
class RunContext:
    """A run's store, connector and plan. The connector is made only when it is first needed."""

    store: Store
    integration: Integration
    plan: ObjectPlan
    connector_factory: Callable[[], Connector]
    progress: Progress | None = None
    preview: PreviewReport | None = None  # set: a dry run that writes nothing (crmsync.sync.preview)
    _connector: Connector | None = field(default=None, repr=False)

    @property
    def connector(self) -> Connector:
        if self._connector is None:
            self._connector = self.connector_factory()
        return self._connector

    @property
    def scope(self) -> Scope:
        return self.plan.scope

    def report(self, phase: str, done: int) -> None:
        if self.progress:
            self.progress(self.plan.label, phase, done)


def open_context(
    store: Store,
    integration: str,
    cs_object: str,
    connector_factory: Callable[[], Connector] | None = None,
    progress: Progress | None = None,
) -> RunContext:
    """Load settings and field mappings and build the plan; a bad configuration fails here, first."""
    from crmsync.connectors import key_field, open_connector

    row = store.settings.integration(integration)
    setting = store.settings.object_setting(integration, cs_object)
    mapping = load_integration_mapping(integration, row.kind)
    object_mapping = mapping.for_object(cs_object, setting.external_object)
    if object_mapping is None:
        raise MappingError(
            f"{config.mapping_path(integration)}: objects: no field mappings for "
            f"{cs_object} -> {setting.external_object}"
        )
    settings = store.settings.object_settings(integration)
    clients = next(s.external_object for s in settings if s.cs_object == "clients")
    # The CRM's ClientSuccess-id field identifies a record of one CS object only while no other
    # CS object points at the same CRM object (clients and subscriptions both from deals).
    sharing = [
        s for s in settings if s.external_object == setting.external_object and s.cs_object != cs_object
    ]
    plan = build_plan(
        integration=integration,
        crm=row.header,
        enabled=row.enabled,
        direction=setting.direction,
        mapping=object_mapping,
        key_field=None if sharing else key_field(row.kind, setting.external_object),
        parent_external_object=clients,
    )
    if plan.push_fields:
        _refuse_shared_pushes(plan, row.enabled, mapping, sharing, config.mapping_path(integration))
    factory = connector_factory or (lambda: open_connector(row.kind))
    return RunContext(
        store=store,
        integration=row,
        plan=plan,
        connector_factory=factory,
        progress=progress or _progress.get("on"),
    )


def _refuse_shared_pushes(
    plan: ObjectPlan, enabled: bool, mapping: MappingFile, sharing: list[ObjectSetting], path: Path
) -> None:
    """Two CS objects may both read one CRM object, but only one may write it: their ids would collide."""
    for other in sharing:
        other_mapping = mapping.for_object(other.cs_object, other.external_object)
        if other_mapping is None:
            continue
        other_plan = build_plan(plan.integration, plan.crm, enabled, other.direction, other_mapping, None)
        if other_plan.push_fields:
            raise ConfigError(
                f"{path}: objects: {plan.cs_object} and {other.cs_object} both push to "
                f"{plan.external_object}, where their ClientSuccess ids would collide; "
                "set one of them to pull or disabled"
            )


_progress: dict[str, Progress] = {}


def set_progress(callback: Progress | None) -> None:
    """Let the CLI draw progress bars: called with (label, phase, records) after each chunk."""
    if callback is None:
        _progress.pop("on", None)
    else:
        _progress["on"] = callback
