"""Where crmsync keeps things: the database URL, its home folder, mapping and expectation files.

The default field mappings and the expectation suites live in the checkout's top-level
``mappings/`` and ``expectations/`` folders, their one source. The wheel carries copies of them as
package data (``crmsync/_defaults/``), so an installed crmsync reads those instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from crmsync.errors import ConfigError

# The folder holding the crmsync, flows and tasks packages: the checkout when running from source,
# site-packages when installed. Prefect deployments' entrypoints (flows/sync.py:…) are relative to it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = Path(__file__).resolve().parent / "_defaults"  # only in an installed wheel
FROM_SOURCE = (PROJECT_ROOT / "pyproject.toml").is_file()  # a checkout (or an editable install of it)


def default_mappings_dir() -> Path:
    """The shipped default mapping of each kind: ``mappings/`` of the checkout, else the package data."""
    return PROJECT_ROOT / "mappings" if FROM_SOURCE else PACKAGE_DATA / "mappings"


def expectations_dir() -> Path:
    """The Great Expectations suites: ``expectations/`` of the checkout, else the package data."""
    return PROJECT_ROOT / "expectations" if FROM_SOURCE else PACKAGE_DATA / "expectations"


DEFAULT_MAPPINGS_DIR = default_mappings_dir()
EXPECTATIONS_DIR = expectations_dir()


def home() -> Path:
    """The folder for an installation's own files: ``CRMSYNC_HOME``, else the user's data folder.

    Never the working directory: a deploy or a worker started elsewhere must find the same store.
    """
    if os.environ.get("CRMSYNC_HOME"):
        return Path(os.environ["CRMSYNC_HOME"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("crmsync", appauthor=False))


def database_url() -> str:
    """``CRMSYNC_DATABASE_URL``, else the SQLite file ``crmsync.db`` in the home folder."""
    return os.environ.get("CRMSYNC_DATABASE_URL") or f"sqlite:///{home().absolute() / 'crmsync.db'}"


def inside_home(*parts: str) -> Path:
    """``home()/parts``, proven to stay inside the home folder (a name is never a way out)."""
    root = home().resolve()
    path = home().joinpath(*parts)
    if not path.resolve().is_relative_to(root):
        raise ConfigError(f"{path}: the path is outside CRMSYNC_HOME ({root})")
    return path


def mapping_path(integration: str) -> Path:
    """An integration's own field-mapping file, made from its kind's default at connect time."""
    return inside_home("mappings", f"{integration}.yaml")


def default_mapping_path(kind: str) -> Path:
    """The shipped default field mappings of a kind (``mappings/<kind>.yaml``)."""
    return default_mappings_dir() / f"{kind}.yaml"


def history_days() -> int:
    """How many days of per-record history runs keep (``CRMSYNC_HISTORY_DAYS``, default 90)."""
    from crmsync.errors import ConfigError

    raw = os.environ.get("CRMSYNC_HISTORY_DAYS") or "90"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"CRMSYNC_HISTORY_DAYS {raw!r} is not a positive number of days")
    return int(raw)


FLOW_TIMEOUT_SECONDS = 6 * 3600  # a run that takes longer is stuck: Prefect ends it as TimedOut


def flow_timeout() -> float:
    """The sync flows' timeout in seconds (``CRMSYNC_FLOW_TIMEOUT``, default 6 h), read when flows load."""
    raw = os.environ.get("CRMSYNC_FLOW_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else float(FLOW_TIMEOUT_SECONDS)
    except ValueError:
        return float(FLOW_TIMEOUT_SECONDS)  # a typo must not stop every flow from loading
