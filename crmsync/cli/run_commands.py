"""Commands that run work: pull now, the sandbox CRMs and the demo (backfill: item9_commands)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from crmsync.cli import render
from crmsync.cli.app import app
from crmsync.cli.settings_commands import IntegrationArg, JsonFlag, open_store


def quiet_prefect() -> None:
    """Keep Prefect's per-task log lines and telemetry out of the terminal (the UI still has them)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # Prefect waits 20 s for its ephemeral API server; a busy machine has needed more, and a
    # "pull now" must never fail for that (a running server avoids the wait altogether).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def keep_run_logs_in_prefect() -> None:
    """Flow- and task-run records (a failure's tracebacks among them) go to the Prefect API only.

    The terminal gets the command's own one-line reason instead; CRMSYNC_DEBUG=1 shows them too.
    Call after Prefect is imported: its logging set-up would reset the loggers.
    """
    if os.environ.get("CRMSYNC_DEBUG"):
        return
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).propagate = False  # their own handler sends them to the API


def run_with_progress(integration: str, objects: list[str] | None, **kwargs: Any) -> dict[str, Any]:
    """Run the integration flow in this process, drawing a progress line per integration × object."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crmsync import local_api
    from crmsync.sync.context import set_progress
    from flows.sync import sync_integration

    keep_run_logs_in_prefect()

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
    )
    with Progress(*columns, TimeElapsedColumn(), console=render.err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}
        bar.add_task(f"starting Prefect and {integration}", total=None, done="")

        def on_progress(label: str, phase: str, done: int) -> None:
            key = f"{label} {phase}"
            if key not in tasks:
                tasks[key] = bar.add_task(f"{label}: {phase}", total=None, done="")
            task = bar.tasks[tasks[key]]
            total = int(task.completed) + done
            bar.update(tasks[key], completed=total, done=f"{total:,} records")

        set_progress(on_progress)
        local_api.ready()
        try:
            return sync_integration(integration, objects, **kwargs)
        finally:
            set_progress(None)


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(result)
        return
    if result["status"] == "skipped":
        name = render.escape(result["integration"])
        render.console.print(f"[yellow]{name}: skipped — the integration is paused[/] (toggle off).")
        return
    render.console.print(render.run_table(result))


@app.command()
def sync(
    integration: IntegrationArg,
    cs_object: Annotated[str | None, typer.Argument(metavar="[OBJECT]", help="Only this object.")] = None,
    deployment: Annotated[
        bool, typer.Option("--deployment", help="Start the deployment's run on the Prefect server instead.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Pull now: pull CRM changes and push ClientSuccess changes, as the directions allow."""
    if not deployment:
        from crmsync import local_api

        quiet_prefect()  # before the server starts: it inherits the settings (no telemetry, quiet logs)
        local_api.start()  # Prefect's temporary API boots beside the checks and imports below
    store = open_store()
    row = store.settings.integration(integration)
    if cs_object:
        store.settings.object_setting(integration, cs_object)
    if not row.enabled:
        _print_result({"integration": integration, "status": "skipped", "objects": []}, as_json)
        return
    quiet_prefect()
    if deployment:
        from crmsync.deploy import run_deployment

        render.console.print(run_deployment(integration, cs_object), markup=False)
        return
    result = run_with_progress(integration, [cs_object] if cs_object else None)
    _print_result(result, as_json)


SANDBOX_EXTRA = "the sandbox CRMs need the 'sandbox' extra: pip install 'crmsync[sandbox]'"


def require_sandbox_extra() -> None:
    """Fail in one line when the sandbox CRMs' own dependency (trustme, for Salesforce's TLS) is missing."""
    from importlib.util import find_spec

    if find_spec("trustme") is None:
        render.fail(SANDBOX_EXTRA)  # printed as text, never as markup


@app.command()
def demo() -> None:
    """The main job: sandbox CRMs, both integrations connected, a full two-way sync, explained."""
    require_sandbox_extra()
    from rich.panel import Panel

    from crmsync import demo as steps
    from crmsync.store import Store

    steps.prepare_home()
    quiet_prefect()
    console = render.console
    console.print(
        Panel.fit(
            "crmsync demo: ClientSuccess ⇄ HubSpot and Salesforce\n"
            "Local sandbox CRMs speak the real wire formats; the official SDKs talk to them over HTTP(S).",
            style="bold",
        )
    )
    with console.status(
        f"Seeding sandbox CRMs ({steps.SIZES['companies']:,} companies, {steps.SIZES['contacts']:,} "
        f"contacts, {steps.SIZES['deals']:,} deals each)…"
    ):
        sandboxes = steps.start_sandboxes()
    try:
        store = Store()
        steps.seed_clientsuccess(store)
        steps.connect_integrations(store)
        console.print(
            "Connected [cyan]hubspot[/] and [cyan]salesforce[/] "
            "(Salesforce subscriptions: Pull from Salesforce); "
            "20 clients exist only in ClientSuccess.\n"
        )
        for kind in steps.INTEGRATIONS:
            console.print(render.run_table(run_with_progress(kind, None)))
        console.print("\n[bold]Incremental sync after one edit on each side:[/]")
        for line in steps.edit_both_sides(store):
            console.print(f"  • {line}")
        console.print(render.run_table(run_with_progress("hubspot", ["clients"])))
        _explain_demo(steps.quarantine_examples(store), steps.DEMO_HOME)
    finally:
        sandboxes.stop()


def _explain_demo(quarantined: list[Any], home: Path) -> None:
    console = render.console
    if quarantined:
        console.print("\n[bold]Quarantined (kept with a reason, retried on the next run):[/]")
        for row in quarantined:
            console.print(
                f"  • {row.integration} {row.cs_object} {row.direction} {row.record_key}: {row.reason}",
                highlight=False,
            )
    console.print(
        "\n[bold]What happened[/]: each integration pulled its CRM's companies, contacts and deals into "
        "ClientSuccess (linking contacts to their clients), matched records both CRMs share by domain, "
        "and pushed ClientSuccess-only records out. A second run moves only what changed.\n"
        f"Store: {home / 'crmsync.db'}  ·  field mappings: {home / 'mappings'}\n"
        "[bold]See the runs in the Prefect UI[/]: [cyan].venv/bin/prefect server start[/] then open "
        "http://127.0.0.1:4200/runs — each integration × object is a task run of its integration's run, "
        "with a summary artifact."
    )


@app.command()
def sandbox(
    records: Annotated[int, typer.Option(help="Companies per CRM (contacts ×1.5, deals ×0.75).")] = 1000,
    hubspot_port: Annotated[int, typer.Option(help="HubSpot sandbox port (0: any free port).")] = 8090,
    salesforce_port: Annotated[int, typer.Option(help="Salesforce sandbox port (0: any free port).")] = 8443,
) -> None:
    """Run both sandbox CRMs until Ctrl-C and print the variables that point crmsync at them."""
    require_sandbox_extra()
    import time

    from crmsync import config
    from crmsync.sandbox import start_sandboxes

    config.home().mkdir(parents=True, exist_ok=True)
    ca_file = Path(config.home()).resolve() / "sandbox-salesforce-ca.pem"
    with render.err_console.status("Seeding the sandbox CRMs…"):
        boxes = start_sandboxes(
            records, records * 3 // 2, records * 3 // 4, ca_file, hubspot_port, salesforce_port
        )
    render.console.print("# Sandbox CRMs are running. In another shell:", highlight=False)
    for key, value in boxes.env.items():
        render.console.print(f"export {key}={value}", highlight=False, soft_wrap=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        boxes.stop()


@app.command()
def deploy(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; change nothing.")
    ] = False,
) -> None:
    """Make the Prefect deployments match the settings: schedules, paused state, one per object."""
    from crmsync.deploy import reconcile, work_pool

    quiet_prefect()
    for line in reconcile(open_store(), dry_run=dry_run):
        render.console.print(line, highlight=False, markup=False)
    if dry_run:
        return
    render.console.print(f"Start a worker to run them: [bold]prefect worker start --pool {work_pool()}[/]")
