"""The Typer application every command module registers its commands on.

It imports nothing of crmsync: the command modules import it, and ``crmsync.cli`` imports the
command modules, so the graph runs one way.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="crmsync",
    help="Sync ClientSuccess clients, contacts and subscriptions with HubSpot and Salesforce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
