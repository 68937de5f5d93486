"""``crmsync quarantine``: the records kept aside with a reason, and their replay."""

from __future__ import annotations

from typing import Annotated

import typer

from crmsync.cli import render
from crmsync.cli.app import app
from crmsync.cli.settings_commands import IntegrationArg, JsonFlag, open_store
from crmsync.settings import CS_OBJECTS

OptionalObject = Annotated[
    str | None, typer.Argument(help=f"Only this ClientSuccess object: {', '.join(CS_OBJECTS)}.")
]
ReplayFlag = Annotated[
    bool, typer.Option("--replay", help="Clear their back-off: the next sync retries them.")
]


@app.command()
def quarantine(
    integration: IntegrationArg,
    cs_object: OptionalObject = None,
    replay: ReplayFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """List the records in quarantine (key, direction, rule, reason, first/last seen), or replay them."""
    from crmsync.store import quarantine as kept

    store = open_store()
    store.settings.integration(integration)  # an unknown name fails here, in one line
    if cs_object is not None and cs_object not in CS_OBJECTS:
        render.fail(f"object must be one of {', '.join(CS_OBJECTS)}; got {cs_object!r}")
    if replay:
        count = kept.replay(store.engine, integration, cs_object)
        if as_json:
            render.print_json({"replayed": count})
        else:
            render.console.print(f"{count} record(s) will be retried by the next sync of {integration}.")
        return
    rows = kept.listing(store.engine, integration, cs_object)
    if as_json:
        render.print_json(rows)
    elif not rows:
        render.console.print(f"Nothing in quarantine for {integration}.")
    else:
        render.console.print(_table(rows))


def _table(rows: list[dict]) -> object:
    from rich.table import Table

    table = Table("object", "key", "direction", "rule", "reason", "first seen", "last seen", "next retry")
    for row in rows:
        table.add_row(
            row["object"],
            row["key"],
            row["direction"],
            row["rule"],
            row["reason"],
            row["first_seen"][:19],
            row["last_seen"][:19],
            row["next_retry"][:19],
        )
    return table
