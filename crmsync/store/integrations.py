"""Integration settings: the configuration page's integrations and their objects, as stored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from crmsync.models import (
    BackfillWindow,
    Conflict,
    DeletedIntegration,
    Integration,
    ObjectSetting,
    QuarantineRecord,
    RecordLink,
    SyncCursor,
    SyncRun,
    utcnow,
)
from crmsync.settings import CS_OBJECTS, KINDS, SCHEDULES, ObjectDirection, check_name, next_pull_at
from crmsync.store.engine import session
from crmsync.store.errors import StoreError, UnknownName


class IntegrationSettings:
    """Integrations, their toggle, schedule and objects: read, changed, connected and deleted."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def integrations(self) -> list[Integration]:
        """Every connected integration, by name."""
        with session(self.engine) as s:
            return list(s.exec(select(Integration).order_by(Integration.name)))

    def integration(self, name: str) -> Integration:
        """The integration called ``name``, or an error listing the valid names."""
        with session(self.engine) as s:
            found = s.get(Integration, name)
            if found is None:
                names = list(s.exec(select(Integration.name).order_by(Integration.name)))
                valid = ", ".join(names) if names else "none yet; run: crmsync connect hubspot|salesforce"
                raise UnknownName(f"unknown integration '{name}' (connected: {valid})")
            return found

    def object_settings(self, name: str) -> list[ObjectSetting]:
        """The integration's objects in dependency order (clients, contacts, subscriptions)."""
        self.integration(name)
        with session(self.engine) as s:
            rows = list(s.exec(select(ObjectSetting).where(ObjectSetting.integration == name)))
        return sorted(rows, key=lambda row: CS_OBJECTS.index(row.cs_object))

    def object_setting(self, name: str, cs_object: str) -> ObjectSetting:
        """One object of the integration, or an error listing the valid objects."""
        for row in self.object_settings(name):
            if row.cs_object == cs_object:
                return row
        raise UnknownName(f"unknown object '{cs_object}' (valid: {', '.join(CS_OBJECTS)})")

    def connect(
        self,
        kind: str,
        name: str | None,
        pointing: dict[str, str],
        account: str | None = None,
        allow_same_account: bool = False,
    ) -> Integration:
        """Record a new integration of ``kind`` with each CS object pointed as ``pointing`` says.

        ``account`` identifies the CRM account (kind and URL, no secret); a second integration of
        the same account is refused unless ``allow_same_account``.
        """
        if kind not in KINDS:
            raise UnknownName(f"unknown integration kind '{kind}' (valid: {', '.join(KINDS)})")
        name = check_name(name or kind)
        with session(self.engine) as s:
            if s.get(Integration, name) is not None:
                raise StoreError(f"integration '{name}' is already connected (see: crmsync show {name})")
            if account and not allow_same_account:
                _refuse_same_account(s, kind, account)
            integration = Integration(name=name, kind=kind, header=KINDS[kind].header, account=account)
            s.add(integration)
            s.exec(delete(DeletedIntegration).where(col(DeletedIntegration.name) == name))
            s.flush()
            for cs_object in CS_OBJECTS:
                if cs_object in pointing:
                    s.add(
                        ObjectSetting(
                            integration=name, cs_object=cs_object, external_object=pointing[cs_object]
                        )
                    )
        return integration

    def deleted_names(self) -> set[str]:
        """Integrations deleted through crmsync (tombstones) and not connected again since."""
        with session(self.engine) as s:
            return set(s.exec(select(DeletedIntegration.name)))

    def _update_integration(self, name: str, **values: object) -> Integration:
        self.integration(name)
        with session(self.engine) as s:
            row = s.get(Integration, name)
            for key, value in values.items():
                setattr(row, key, value)
            s.add(row)
        return row

    def set_enabled(self, name: str, enabled: bool) -> Integration:
        """The global toggle: on enables the integration's sync, off pauses all of it."""
        row = self.integration(name)
        return self._update_integration(
            name, enabled=enabled, next_pull_at=next_pull_at(row.schedule, enabled, utcnow())
        )

    def set_schedule(self, name: str, schedule: str) -> Integration:
        """The pull schedule: manual, or every 5, 10, 15, 30 or 60 minutes."""
        if schedule not in SCHEDULES:
            raise UnknownName(f"unknown pull schedule '{schedule}' (valid: {', '.join(SCHEDULES)})")
        row = self.integration(name)
        return self._update_integration(
            name, schedule=schedule, next_pull_at=next_pull_at(schedule, row.enabled, utcnow())
        )

    def record_pull(self, name: str, finished_at: datetime) -> Integration:
        """A pull completed: latest pull is now, next pull follows the schedule."""
        row = self.integration(name)
        return self._update_integration(
            name,
            latest_pull_at=finished_at,
            next_pull_at=next_pull_at(row.schedule, row.enabled, finished_at),
        )

    def set_direction(self, name: str, cs_object: str, direction: str) -> ObjectSetting:
        """An object's sync direction: push-pull, push, pull or disabled."""
        valid = [d.value for d in ObjectDirection]
        if direction not in valid:
            raise UnknownName(f"unknown direction '{direction}' (valid: {', '.join(valid)})")
        setting = self.object_setting(name, cs_object)
        with session(self.engine) as s:
            setting.direction = direction
            s.add(setting)
        return setting

    def point_object(self, name: str, cs_object: str, external_object: str) -> ObjectSetting:
        """Point a CS object at another external object; its cursors start over for the new one."""
        kind = KINDS[self.integration(name).kind]
        if external_object not in kind.external_objects:
            raise UnknownName(
                f"unknown {kind.header} object '{external_object}' "
                f"(valid: {', '.join(kind.external_objects)})"
            )
        setting = self.object_setting(name, cs_object)
        with session(self.engine) as s:
            setting.external_object = external_object
            s.add(setting)
        return setting

    def delete_integration(self, name: str) -> None:
        """Remove an integration and everything it owns. It cannot be undone."""
        self.integration(name)
        with session(self.engine) as s:
            # Its sync state goes with it; the ClientSuccess records stay.
            for table in (
                BackfillWindow,
                SyncRun,
                Conflict,
                QuarantineRecord,
                SyncCursor,
                RecordLink,
                ObjectSetting,
            ):
                s.exec(delete(table).where(col(table.integration) == name))
            kind = s.get(Integration, name).kind
            s.exec(delete(Integration).where(col(Integration.name) == name))
            s.merge(DeletedIntegration(name=name, kind=kind, deleted_at=utcnow()))


def _refuse_same_account(s: Session, kind: str, account: str) -> None:
    """A second integration of one CRM account would link and create every record twice."""
    same = s.exec(select(Integration.name).where(Integration.kind == kind, Integration.account == account))
    other = same.first()
    if other is not None:
        raise StoreError(
            f"integration '{other}' is already connected to the same {KINDS[kind].header} account "
            f"({account}): records would be duplicated on both sides, since each integration creates "
            "and links its own copies; to connect it again anyway, use --allow-same-account"
        )
