"""``crmsync ui``: the configuration page on the web (FastAPI is imported only when it runs)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from crmsync.cli import render
from crmsync.cli.app import app


@app.command()
def ui(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs CRMSYNC_UI_TOKEN.")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8787,
) -> None:
    """Serve the configuration page on the web and print its URL."""
    from crmsync.cli.run_commands import quiet_prefect
    from crmsync.ui.server import serve

    quiet_prefect()  # "Pull now" runs the flows in this process

    def announce(line: str) -> None:
        render.console.print(line, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    serve(host, port, os.environ.get("CRMSYNC_UI_TOKEN"), announce)
