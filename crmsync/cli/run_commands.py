"""Commands that run work: the demo (and, as the pipeline lands, sync, preview and backfill)."""

from __future__ import annotations

from crmsync.cli import app, render
from crmsync.cli.settings_commands import open_store


@app.command()
def demo() -> None:
    """Show the configuration page of a HubSpot and a Salesforce integration in a fresh store."""
    from crmsync import page

    store = open_store()
    for kind in ("hubspot", "salesforce"):
        if kind not in {row.name for row in store.integrations()}:
            page.connect(store, kind)
        render.show_page(page.page(store, kind))
        render.console.print()
