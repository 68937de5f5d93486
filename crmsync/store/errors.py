"""The store's one-line errors: a database problem, or a name that is not one of the valid ones."""

from crmsync.errors import CrmsyncError


class StoreError(CrmsyncError):
    """A one-line problem with the store or a name given to it."""


class UnknownName(StoreError):
    """A name (integration, object, direction, schedule) that is not one of the valid ones."""
