"""Credentials: from the environment, else from a Prefect Secret block of the same name.

A ``Secret`` never shows its value in a repr, str, log line or exception; code that needs
the value calls ``reveal()`` at the last moment (building an SDK client).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import NoReturn

MAX_MESSAGE = 300  # characters of an error or log line, after scrubbing
MIN_SECRET = 4  # shorter values are not real credentials, and masking them would garble the text
_BEARER = re.compile(r"(?i)bearer\s+\S+")


class Secret:
    """A credential value that hides itself everywhere but ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:  # never pickle the value into a Prefect result or cache
        raise TypeError("Secret values cannot be serialised")


def scrub(text: str, secrets: Iterable[Secret], limit: int = MAX_MESSAGE) -> str:
    """``text`` without any of these secret values or a bearer token, on one line, at most ``limit`` long."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= MIN_SECRET:
            text = text.replace(value, "***")
    text = " ".join(_BEARER.sub("Bearer ***", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def block_name(env_name: str) -> str:
    """The Prefect Secret block name for an environment variable: lower case, dashes."""
    return env_name.lower().replace("_", "-")


def _from_prefect_block(env_name: str) -> str | None:
    """Look the value up in a Prefect Secret block, only where a Prefect API is already reachable.

    Without PREFECT_API_URL or a running flow, asking would start Prefect's ephemeral API
    (~15 s) just to learn that no block exists, so we don't.
    """
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return None
    from prefect.blocks.system import Secret as SecretBlock

    try:
        return SecretBlock.load(block_name(env_name)).get()
    except (ValueError, LookupError):
        return None


def get(env_name: str, default: str | None = None) -> str | None:
    """A plain (non-secret) setting such as a base URL: environment, then Prefect block, then default."""
    value = os.environ.get(env_name)
    if value:
        return value
    return _from_prefect_block(env_name) or default


def get_secret(env_name: str) -> Secret | None:
    """A credential: environment, then Prefect Secret block; None when neither has it."""
    value = get(env_name)
    return Secret(value) if value else None
