"""Item 9 of the page: sync preview, field import, and backfill as a run of its own."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from crmsync import local_api
from crmsync.cli import render
from crmsync.cli.app import app
from crmsync.cli.run_commands import quiet_prefect
from crmsync.cli.settings_commands import IntegrationArg, JsonFlag, ObjectArg, open_store

OptionalObject = Annotated[str | None, typer.Argument(metavar="[OBJECT]", help="Only this object.")]


def _table(title: str, columns: list[str], rows: list[dict[str, Any]]) -> Any:
    """A rich table whose cells are plain text: CRM and user values are never read as markup."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
    return table


@app.command()
def preview(integration: IntegrationArg, cs_object: OptionalObject = None, as_json: JsonFlag = False) -> None:
    """Sync preview: what a sync would create, update, skip, reject or flag; writes nothing."""
    from crmsync.sync.preview import diff_rows, preview_integration, summary_rows

    result = preview_integration(open_store(), integration, cs_object)
    if as_json:
        render.print_json(result)
        return
    counts = ["object", "side", "status", "create", "update", "unchanged", "quarantine", "conflict"]
    render.console.print(
        _table(f"{integration}: sync preview (nothing written)", counts, summary_rows(result))
    )
    diffs = diff_rows(result)
    if diffs:
        columns = ["object", "side", "change", "record", "field", "old", "new"]
        render.console.print(_table("Field changes (first 50 per object and side)", columns, diffs))
    rejected = [{"object": o["cs_object"], **r} for o in result["objects"] for r in o["rejected_options"]]
    if rejected:
        title = "Values the CRM's options would reject (quarantined, never sent)"
        render.console.print(_table(title, ["object", "record", "reason"], rejected))


@app.command()
def fields(
    integration: IntegrationArg,
    cs_object: ObjectArg,
    write: Annotated[
        bool,
        typer.Option("--write", help="Add unmapped fields to the mapping file as commented suggestions."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import: the external object's fields from the live API, with exact-case options."""
    from crmsync.fields import remote_fields, write_suggestions

    result = remote_fields(open_store(), integration, cs_object)
    added = write_suggestions(result) if write else []
    if as_json:
        render.print_json({**result, "suggested": added})
        return
    rows = [
        {**f, "options": ", ".join(f["options"]), "mapped": "yes" if f["mapped"] else ""}
        for f in result["fields"]
    ]
    title = f"{integration}: {result['external_object']} fields for {cs_object}"
    render.console.print(_table(title, ["name", "label", "type", "options", "mapped"], rows))
    if write:
        from crmsync import config

        path = config.mapping_path(integration)
        render.console.print(
            f"{len(added)} suggestion(s) added to {path} (commented out)", highlight=False, markup=False
        )


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        render.fail(f"{option} {value!r} is not a date (use YYYY-MM-DD)")


@app.command()
def backfill(
    integration: IntegrationArg,
    cs_object: Annotated[str, typer.Argument(metavar="OBJECT", help="clients, contacts or subscriptions.")],
    since: Annotated[str, typer.Option("--since", help="First day to re-pull (YYYY-MM-DD).")],
    until: Annotated[
        str | None, typer.Option("--until", help="Day to stop before (default: tomorrow).")
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Window size: 30m, 6h, 1d, 2w.")] = "1d",
    as_json: JsonFlag = False,
) -> None:
    """Re-pull what the CRM changed in [since, until), window by window; never pushes, keeps the cursor."""
    from crmsync.sync.backfill import split_windows

    start, end = _day(since, "--since"), _day(until, "--until")
    windows = split_windows(start, end, window)  # a bad window or since after until fails here
    store = open_store()
    store.settings.object_setting(integration, cs_object)
    if not store.settings.integration(integration).enabled:
        render.console.print(
            f"{integration}: skipped — the integration is paused (toggle off).", markup=False
        )
        return
    quiet_prefect()
    local_api.start()  # the shared local API if it is up; else it boots while the flow imports
    result = _run_backfill(integration, cs_object, start, end, window, len(windows))
    if as_json:
        render.print_json(result)
        return
    done = [r for r in result["windows"] if r["status"] == "completed"]
    skipped = [r for r in result["windows"] if r["status"] == "already done"]
    pulled = sum(r.get("extracted", 0) for r in done)
    render.console.print(
        f"{integration} · {cs_object}: {len(done)} window(s) re-pulled ({pulled:,} records), "
        f"{len(skipped)} already done before",
        markup=False,
    )


def _run_backfill(
    integration: str, cs_object: str, start: date, end: date | None, window: str, total: int
) -> dict:
    """Run the backfill flow in this process with a progress bar over its windows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from crmsync.sync.backfill import set_window_hook
    from flows.backfill import backfill as backfill_flow

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=render.err_console, transient=True) as bar:
        task = bar.add_task(f"{integration} · {cs_object} · backfill windows", total=total)
        set_window_hook(lambda *_: bar.advance(task))
        try:
            local_api.ready()
            return backfill_flow(integration, cs_object, start, end, window)
        finally:
            set_window_hook(None)
