"""The ``crmsync`` command line: the configuration page's items and actions, plus runs.

Heavy libraries (SQLAlchemy, pandas, Prefect, Great Expectations) are imported inside the
commands that need them, so ``crmsync --help`` starts fast.
"""

from __future__ import annotations

import os

import typer

from crmsync.cli import render

app = typer.Typer(
    name="crmsync",
    help="Sync ClientSuccess clients, contacts and subscriptions with HubSpot and Salesforce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

from crmsync.cli import quarantine_commands, run_commands, settings_commands, ui_command  # noqa: E402  - registers the commands

__all__ = ["app", "main", "quarantine_commands", "run_commands", "settings_commands", "ui_command"]


def main() -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit."""
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
