"""Where crmsync keeps things: the database URL, its home folder, mapping and expectation files."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAPPINGS_DIR = PROJECT_ROOT / "mappings"  # the shipped default mapping of each kind
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def home() -> Path:
    """The folder for an installation's own files (``CRMSYNC_HOME``, default ``./.crmsync``)."""
    return Path(os.environ.get("CRMSYNC_HOME") or ".crmsync")


def database_url() -> str:
    """``CRMSYNC_DATABASE_URL``, else a SQLite file ``crmsync.db`` in the working directory."""
    return os.environ.get("CRMSYNC_DATABASE_URL") or "sqlite:///crmsync.db"


def mapping_path(integration: str) -> Path:
    """An integration's own field-mapping file, made from its kind's default at connect time."""
    return home() / "mappings" / f"{integration}.yaml"


def default_mapping_path(kind: str) -> Path:
    """The shipped default field mappings of a kind (``mappings/<kind>.yaml``)."""
    return DEFAULT_MAPPINGS_DIR / f"{kind}.yaml"


def history_days() -> int:
    """How many days of per-record history runs keep (``CRMSYNC_HISTORY_DAYS``, default 90)."""
    from crmsync.errors import ConfigError

    raw = os.environ.get("CRMSYNC_HISTORY_DAYS") or "90"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"CRMSYNC_HISTORY_DAYS {raw!r} is not a positive number of days")
    return int(raw)
