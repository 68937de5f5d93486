"""Where crmsync keeps things: the database URL, its home folder, mapping and expectation files."""

from __future__ import annotations

import os
from pathlib import Path

from crmsync.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAPPINGS_DIR = PROJECT_ROOT / "mappings"  # the shipped default mapping of each kind
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


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
    return DEFAULT_MAPPINGS_DIR / f"{kind}.yaml"
