"""How the CLI shows things: rich tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def _console(stderr: bool = False) -> Console:
    # Piped output (CI logs, `| less`) gets room for the tables instead of rich's 80 columns.
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=max(probe.width, 130))


console = _console()
err_console = _console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> None:
    """Exit with a one-line reason on stderr (the reason is text, never markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


def text(value: Any, style: str = "") -> Text:
    """A user's or a CRM's value as plain text: brackets in it are shown, never read as markup."""
    return Text("" if value is None else str(value), style=style)


_EFFECTIVE_STYLE = {"both": "green", "push": "cyan", "pull": "magenta", "none": "dim"}


def integration_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Integrations", title_justify="left")
    for column in ("Integration", "Kind", "Sync", "Pull schedule", "Latest pull", "Next pull"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            text(row["name"]),
            text(row["header"]),
            "[green]on[/]" if row["enabled"] else "[yellow]paused[/]",
            text(row["schedule_label"]),
            text(row["latest_pull"] or "never"),
            text(row["next_pull"] or "—"),
        )
    return table


def show_page(page: dict[str, Any]) -> None:
    """Items 1-8 of the configuration page, as a person reads them."""
    crm = escape(page["header"])
    toggle = "[green]On[/] (syncing)" if page["enabled"] else "[yellow]Off[/] (all sync paused)"
    next_pull = page["next_pull"] or (
        "none (manual only)" if page["schedule"] == "manual" else "none (integration paused)"
    )
    console.print(f"[bold]1. {crm}[/]  (integration [cyan]{escape(page['name'])}[/])", highlight=False)
    console.print(f"2. Global toggle: {toggle}")
    objects = Table(title="3-4. Objects and sync direction", title_justify="left")
    for column in ("ClientSuccess object", f"{crm} object", "Sync direction"):
        objects.add_column(column)
    for obj in page["objects"]:
        label = obj["direction_label"]
        objects.add_row(text(obj["cs_object"].title()), text(obj["external_object"]), text(label))
    console.print(objects)
    console.print(f"5. Pull schedule: {page['schedule_label']}")
    console.print(f"6. Latest pull: {page['latest_pull'] or 'never'}")
    console.print(f"7. Next pull: {next_pull}")
    fields = Table(title=f"8. Field mappings ({escape(page['mapping_file'])})", title_justify="left")
    for column in ("Object", "ClientSuccess field", f"{crm} field", "Mapped", "Effective"):
        fields.add_column(column)
    for obj in page["objects"]:
        for fld in obj["fields"]:
            style = _EFFECTIVE_STYLE[fld["effective"]]
            fields.add_row(
                *(text(v) for v in (obj["cs_object"], fld["cs_field"], fld["external_field"], fld["mapped"])),
                text(fld["effective"], style),
            )
    console.print(fields)
    _show_budget(page.get("api_budget"))


def _show_budget(budget: dict[str, Any] | None) -> None:
    """The account's API budget: its limits, the Prefect limits carrying them, and whether it applies."""
    if not budget:
        return
    console.print(text(f"API budget of {budget['account']}: {budget['status']}"), highlight=False)
    for limit in budget["limits"]:
        console.print(
            text(
                f"  {limit['limit']}: bucket of {limit['burst']} refilling {limit['per_second']:.3g}/s, "
                f"taken {limit['batch']} at a time (Prefect limit {limit['prefect_limit']})"
            ),
            highlight=False,
        )


RUN_COLUMNS = (
    "extracted",
    "created",
    "updated",
    "unchanged",
    "conflicts",
    "quarantined",
    "pushed",
    "deleted",
)


def run_table(result: dict[str, Any]) -> Table:
    """One integration's run: a row per object with its counts."""
    table = Table(title=f"{escape(result['integration'])}: sync", title_justify="left")
    table.add_column("Object", no_wrap=True)
    table.add_column("Status")
    for column in RUN_COLUMNS:
        table.add_column(column.title(), justify="right")
    for row in result["objects"]:
        cells = [f"{row[c]:,}" if isinstance(row.get(c), int) else "" for c in RUN_COLUMNS]
        status = row["status"]
        style = {"completed": "green", "skipped": "yellow", "disabled": "dim"}.get(status, "red")
        label = text(f"{row['object']} ↔ {row.get('external_object', '')}")
        table.add_row(label, text(status, style), *cells)
    return table
