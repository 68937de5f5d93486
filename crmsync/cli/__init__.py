"""The ``crmsync`` command line: the configuration page's items and actions, plus runs.

``app.py`` holds the Typer application; the command modules register their commands on it and
are imported here, in the order ``crmsync --help`` lists them. Nothing below the CLI imports it.
Heavy libraries (SQLAlchemy, pandas, Prefect, Great Expectations) are imported inside the
commands that need them, so ``crmsync --help`` starts fast.
"""

from __future__ import annotations

import atexit
import gc
import os

# Importing the command modules registers their commands. run_commands imports settings_commands
# first, so --help lists the configuration page's commands before the ones that run work.
from crmsync.cli import (
    explain_commands,
    item9_commands,
    quarantine_commands,
    render,
    run_commands,
    settings_commands,
    ui_command,
)

__all__ = [
    "explain_commands",
    "item9_commands",
    "main",
    "quarantine_commands",
    "run_commands",
    "settings_commands",
    "ui_command",
]


def main() -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit."""
    from crmsync.cli.app import app

    # Registered first, so it runs after every other exit handler: the interpreter's last garbage
    # collection then skips what exists at exit (Prefect, pydantic and SQLAlchemy make a large
    # heap), 0.6 s of a quiet `crmsync sync`. Nothing is skipped: objects are still freed.
    atexit.register(gc.freeze)
    from crmsync.errors import CrmsyncError

    try:
        app()
    except CrmsyncError as exc:
        render.fail(str(exc))
    except KeyboardInterrupt:
        render.fail("interrupted", code=130)
    except Exception as exc:
        if os.environ.get("CRMSYNC_DEBUG"):
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        render.fail(f"unexpected {type(exc).__name__}: {first_line} (set CRMSYNC_DEBUG=1 for details)")
