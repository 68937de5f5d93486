"""crmsync's database, one ``Store`` of three parts: integration settings (``store.settings``),
sync state (``store.state``) and the ClientSuccess records a sync reads (``store.records``)."""

from crmsync.store.database import Store
from crmsync.store.engine import HEAD_REVISION, MIGRATIONS_DIR, create_engine, migrate
from crmsync.store.errors import StoreError, UnknownName

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "Store",
    "StoreError",
    "UnknownName",
    "create_engine",
    "migrate",
]
