"""Commands that read or change an integration's settings: no CRM API is called here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from crmsync.cli import render
from crmsync.cli.app import app
from crmsync.settings import CS_OBJECTS, KINDS

if TYPE_CHECKING:
    from crmsync.store import Store

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IntegrationArg = Annotated[str, typer.Argument(help="The integration's name, e.g. hubspot.")]
ObjectArg = Annotated[str, typer.Argument(help=f"ClientSuccess object: {', '.join(CS_OBJECTS)}.")]


def open_store() -> Store:
    """The store named by CRMSYNC_DATABASE_URL (created or upgraded on first use)."""
    from crmsync.store import Store

    return Store()


@app.command()
def integrations(as_json: JsonFlag = False) -> None:
    """List the connected integrations."""
    from crmsync import page

    store = open_store()
    rows = [page.page(store, row.name) for row in store.settings.integrations()]
    if as_json:
        render.print_json(rows)
    elif not rows:
        render.console.print("No integrations yet. Connect one: [bold]crmsync connect hubspot[/]")
    else:
        render.console.print(render.integration_table(rows))


@app.command()
def connect(
    kind: Annotated[str, typer.Argument(help=f"Kind of CRM: {', '.join(KINDS)}.")],
    name: Annotated[str | None, typer.Option(help="Name it (default: the kind), e.g. salesforce-eu.")] = None,
    allow_same_account: Annotated[
        bool, typer.Option(help="Connect a CRM account that another integration already syncs.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Connect an integration: check its credentials, record it with default objects and mappings."""
    from crmsync import page
    from crmsync.settings import check_name

    check_name(name or kind)  # a bad name fails first, before any call or write
    store = open_store()
    connector, account = page.open_account(kind) if kind in KINDS else (None, None)  # bad token: here
    result = page.connect(store, kind, name, connector, allow_same_account)
    if as_json:
        render.print_json({**result, "account": account})
        return
    render.console.print(
        f"Connected {result['header']} as ", render.text(result["name"], "cyan"), ".", sep=""
    )
    if account:
        render.console.print(f"Credentials work: {account}.", highlight=False, markup=False)
    else:
        render.err_console.print(
            f"[yellow]warning:[/] no {result['header']} credentials are set yet; "
            "syncs will fail until they are (see README: Environment).",
            highlight=False,
        )
    render.show_page(result)


@app.command()
def show(integration: IntegrationArg, as_json: JsonFlag = False) -> None:
    """Show an integration's configuration page: toggle, objects, directions, schedule, pulls."""
    from crmsync import page

    result = page.page(open_store(), integration)
    if as_json:
        render.print_json(result)
    else:
        render.show_page(result)


@app.command()
def toggle(
    integration: IntegrationArg,
    state: Annotated[str, typer.Argument(help="on enables all sync of the integration; off pauses it.")],
) -> None:
    """The global toggle: enable or pause all sync of one integration (others are untouched)."""
    if state not in ("on", "off"):
        render.fail(f"unknown toggle state '{state}' (valid: on, off)")
    store = open_store()
    store.settings.set_enabled(integration, state == "on")
    word = "enabled" if state == "on" else "paused: no object of it syncs until it is turned on again"
    render.console.print(f"[cyan]{escape(integration)}[/] sync {word}.")


@app.command()
def direction(
    integration: IntegrationArg,
    cs_object: ObjectArg,
    value: Annotated[str, typer.Argument(metavar="DIRECTION", help="push-pull, push, pull or disabled.")],
) -> None:
    """Set an object's sync direction; it overrides the field mappings' own directions."""
    from crmsync.settings import ObjectDirection

    store = open_store()
    setting = store.settings.set_direction(integration, cs_object, value)
    label = ObjectDirection(setting.direction).label(store.settings.integration(integration).header)
    render.console.print(f"[cyan]{escape(integration)}[/] {cs_object}: {label}.")


@app.command("object")
def point_object(
    integration: IntegrationArg,
    cs_object: ObjectArg,
    external_object: Annotated[str, typer.Argument(help="The CRM object, e.g. companies or deals.")],
) -> None:
    """Point a ClientSuccess object at another CRM object (e.g. clients from deals)."""
    from crmsync import page

    page.point_object(open_store(), integration, cs_object, external_object)
    render.console.print(f"[cyan]{escape(integration)}[/] {cs_object} now sync with {external_object}.")


@app.command()
def schedule(
    integration: IntegrationArg,
    every: Annotated[str, typer.Argument(metavar="SCHEDULE", help="manual, 5m, 10m, 15m, 30m or 60m.")],
) -> None:
    """Set the pull schedule: manual only, or every 5, 10, 15, 30 or 60 minutes."""
    from crmsync.settings import schedule_label

    row = open_store().settings.set_schedule(integration, every)
    nxt = row.next_pull_at.isoformat(timespec="seconds") if row.next_pull_at else "none"
    render.console.print(
        f"[cyan]{escape(integration)}[/] pull schedule: {schedule_label(row.schedule)} (next pull: {nxt}). "
        "Run [bold]crmsync deploy[/] to apply it to the Prefect deployments."
    )


mappings_app = typer.Typer(help="Field mappings (mappings/*.yaml).", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("check")
def mappings_check(
    paths: Annotated[list[str] | None, typer.Argument(help="Files to check (default: all).")] = None,
    remote: Annotated[bool, typer.Option("--remote", help="Also check them against the live CRMs.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate mapping files: the shipped defaults and every integration's own file.

    Where a kind's credentials are configured, the CRM fields they name are checked live too.
    """
    from crmsync import config
    from crmsync.mapping.spec import MappingError

    if paths:
        files = [Path(p) for p in paths]
    else:
        files = sorted(config.default_mappings_dir().glob("*.yaml"))
        files += sorted((config.home() / "mappings").glob("*.yaml"))
    results, schemas = [], {}
    for path in files:
        try:
            mapping = _check_mapping(path, schemas)
            results.append({"file": str(path), "ok": True, "objects": len(mapping.objects)})
        except MappingError as exc:
            results.append({"file": str(path), "ok": False, "error": str(exc)})
    if as_json:
        render.print_json(results)
    else:
        for row in results:
            if row["ok"]:
                render.console.print(
                    f"[green]ok[/]    {escape(row['file'])} ({row['objects']} object mappings)"
                )
            else:
                render.err_console.print(
                    "[red]error[/]", escape(row["error"]), highlight=False, soft_wrap=True
                )
    local_ok = all(row["ok"] for row in results)
    if remote:  # also when a file failed: the live checks name what the local one cannot
        check_remote(open_store(), local_ok)
    if not local_ok:
        raise typer.Exit(1)


def _check_mapping(path: Path, schemas: dict[str, Any]) -> Any:
    """One file validated, and against its CRM's live schema when that kind has credentials."""
    from crmsync import page
    from crmsync.mapping.live import CachedSchema, check_live
    from crmsync.mapping.spec import load_mapping

    mapping = load_mapping(path)
    if mapping.kind not in schemas:
        connector = page.open_account(mapping.kind)[0]
        schemas[mapping.kind] = connector and CachedSchema(connector)
    if schemas[mapping.kind] is not None:
        check_live(mapping, schemas[mapping.kind], str(path))
    return mapping


@app.command()
def delete(
    integration: IntegrationArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")] = False,
) -> None:
    """Delete an integration permanently, with all of its field mappings. It cannot be undone."""
    from crmsync import page

    store = open_store()
    store.settings.integration(integration)  # unknown names fail before the prompt
    if not yes:
        render.console.print(
            f"[bold red]This permanently deletes '{integration}'[/] with its field mappings, links, "
            "cursors, quarantine and conflicts. [bold]It cannot be undone.[/] "
            "To pause syncing instead, use: crmsync toggle {integration} off".replace(
                "{integration}", integration
            )
        )
        typed = typer.prompt("Type the integration's name to confirm", default="", show_default=False)
        if typed != integration:
            render.fail("not deleted: the name did not match")
    page.delete(store, integration)
    if os.environ.get("PREFECT_API_URL"):  # its deployments go too, where a server has them
        from crmsync.deploy import remove_deployments

        for line in remove_deployments(integration):
            render.console.print(f"deployment {line}", highlight=False, markup=False)
    render.console.print(f"Deleted integration [cyan]{escape(integration)}[/]. It cannot be undone.")


def check_remote(store: Any, local_ok: bool = True) -> None:
    """``mappings check --remote``: one line per mapped field or value-map target the CRM rejects."""
    from crmsync.fields import remote_problems

    problems = [line for row in store.settings.integrations() for line in remote_problems(store, row.name)]
    for line in problems:
        render.err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    if local_ok:
        render.console.print("ok    the mapped fields and value maps match the live CRMs", markup=False)
