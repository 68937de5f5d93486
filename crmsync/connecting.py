"""Connecting an integration: its name, its account, its field-mapping file, then its row.

Every check runs before anything is written, and a failure after the copy takes the copy back.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmsync import config
from crmsync.errors import ConfigError
from crmsync.mapping.live import check_live
from crmsync.mapping.spec import load_mapping
from crmsync.settings import KINDS, check_name

if TYPE_CHECKING:
    from crmsync.store import Store


def connect(
    store: Store,
    kind: str,
    name: str | None = None,
    account: Any = None,
    allow_same_account: bool = False,
) -> str:
    """Record an integration with its kind's default objects and copy its default field mappings.

    ``account`` is the checked connector (or None without credentials): its field mappings are
    checked against the live schema, and a second integration of its account needs
    ``allow_same_account``. Nothing is saved when any step fails. Returns the integration's name.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown integration kind '{kind}' (valid: {', '.join(KINDS)})")
    name = check_name(name or kind)
    template, target = config.default_mapping_path(kind), config.mapping_path(name)
    mapping = load_mapping(template)  # a broken default fails here, before anything is written
    if account is not None:
        used = target if target.exists() else template
        check_live(load_mapping(used), account, str(used))
    pointing = {
        cs_object: external
        for cs_object in ("clients", "contacts", "subscriptions")
        if (external := mapping.default_external_object(cs_object))
    }
    copied = _copy_mapping(template, target)
    try:
        identity = account.account if account is not None else None
        store.settings.connect(kind, name, pointing, identity, allow_same_account)
    except BaseException:
        if copied:
            target.unlink(missing_ok=True)
        raise
    return name


def _copy_mapping(template: Path, target: Path) -> bool:
    """Copy the default mappings to the integration's own file, unless a user's edited one is there."""
    if target.exists():  # keep a file a user already edited, e.g. after delete + connect
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
    except OSError as exc:
        target.unlink(missing_ok=True)  # no half-written copy
        raise ConfigError(f"{target}: cannot write the field-mapping file: {exc.strerror}") from None
    return True


def open_account(kind: str) -> tuple[Any, str | None]:
    """The connector of ``kind`` and its check() description, after one cheap call; (None, None)
    without credentials. Bad credentials or an unreachable host raise a one-line ConnectorError."""
    from crmsync.connectors import open_connector
    from crmsync.connectors.base import AuthError

    try:
        connector = open_connector(kind)
    except AuthError:  # nothing configured yet: connecting still records the settings
        return None, None
    return connector, connector.check()
