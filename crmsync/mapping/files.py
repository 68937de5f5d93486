"""An integration's own field-mapping file, loaded and validated for the page and the sync alike."""

from __future__ import annotations

from crmsync import config
from crmsync.mapping.spec import MappingError, MappingFile, load_mapping


def load_integration_mapping(name: str, kind: str) -> MappingFile:
    """The validated field mappings of integration ``name`` of ``kind`` (its file under CRMSYNC_HOME)."""
    path = config.mapping_path(name)
    if not path.exists():
        raise MappingError(
            f"{path}: the field-mapping file of '{name}' is missing "
            f"(copy {config.default_mapping_path(kind)} there to restore the defaults)"
        )
    return load_mapping(path)
