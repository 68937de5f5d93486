"""The base of every error crmsync explains to its user in one line."""


class CrmsyncError(Exception):
    """A failure with a one-line, secret-free reason meant for the user."""


class ConfigError(CrmsyncError):
    """A configuration that cannot work: an unknown kind, or two objects pushing into one CRM object."""
