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


FLOW_TIMEOUT_SECONDS = 6 * 3600  # a run that takes longer is stuck: Prefect ends it as TimedOut


def flow_timeout() -> float:
    """The sync flows' timeout in seconds (``CRMSYNC_FLOW_TIMEOUT``, default 6 h), read when flows load."""
    raw = os.environ.get("CRMSYNC_FLOW_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else float(FLOW_TIMEOUT_SECONDS)
    except ValueError:
        return float(FLOW_TIMEOUT_SECONDS)  # a typo must not stop every flow from loading
