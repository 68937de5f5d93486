"""``crmsync explain`` (why a record synced, or not) and ``crmsync audit`` (where the sides drifted)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync.cli import render
from crmsync.cli.app import app
from crmsync.cli.settings_commands import IntegrationArg, JsonFlag, ObjectArg, open_store


@app.command()
def explain(
    integration: IntegrationArg,
    cs_object: ObjectArg,
    record: Annotated[
        str, typer.Argument(help="A ClientSuccess id, a CRM id or a match key (domain, email).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Why a record synced, or not: both sides field by field, directions, verdicts and history."""
    from crmsync.audit.explain import explain as explain_record
    from crmsync.sync.context import open_context

    result = explain_record(open_context(open_store(), integration, cs_object), record)
    if as_json:
        render.print_json(result)
        return
    render.console.print(
        f"[bold]{integration} · {cs_object}[/]  ClientSuccess {result['cs_id'] or '—'}  "
        f"↔  {result['external_object']} {result['external_id'] or '—'}  "
        f"({'linked' if result['linked'] else 'not linked'})",
        highlight=False,
    )
    render.console.print(_fields_table(result["fields"]))
    render.console.print(
        _rows_table("History", result["history"], ["at", "mode", "direction", "action", "values"])
    )
    if result["quarantine"]:
        columns = ["direction", "rule", "reason", "last_seen_at", "replayed_at"]
        render.console.print(_rows_table("Quarantine", result["quarantine"], columns))


@app.command()
def audit(
    integration: IntegrationArg,
    cs_object: Annotated[str | None, typer.Argument(metavar="[OBJECT]", help="Only this object.")] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Re-queue drifted records for the next sync.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Read both sides in full and report drift; --repair re-queues it so the next sync repairs it."""
    from crmsync.audit import run

    result = run.audit_integration(open_store(), integration, [cs_object] if cs_object else None, fix=repair)
    if as_json:
        render.print_json(result)
        return
    for obj in result["objects"]:
        counts = ", ".join(f"{k} {v}" for k, v in obj["counts"].items() if v) or "no drift"
        line = f"[bold]{obj['object']}[/]: {obj['status']}; {counts}"
        if obj.get("repaired"):
            line += "; re-queued: " + ", ".join(f"{k} {v}" for k, v in obj["repaired"].items())
        render.console.print(line, highlight=False)
    rows = run.table_rows(result)
    if rows:
        render.console.print(_rows_table(f"Drift in {integration}", rows, list(rows[0])))


def _fields_table(fields: list[dict[str, Any]]) -> Table:
    table = Table(title="Fields", title_justify="left")
    for column in ("Field", "ClientSuccess", "CRM", "Last synced", "Direction", "Decided by", "Verdict"):
        table.add_column(column)
    for f in fields:
        direction = (
            f["effective"] if f["effective"] == f["mapped"] else f"{f['effective']} (mapped {f['mapped']})"
        )
        table.add_row(
            f"{f['field']} ↔ {f['crm_field']}",
            _text(f["cs_value"]),
            _text(f["crm_value"]),
            _text(f["synced_value"]),
            direction,
            f["decided_by"] + (f": {f['why']}" if f["why"] else ""),
            f["verdict"],
        )
    return table


def _rows_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_text(row.get(c)) for c in columns))
    if not rows:
        table.add_row(*(["none"] + [""] * (len(columns) - 1)))
    return table


def _text(value: Any) -> str:
    return "—" if value is None else str(value)
