"""Commands that run work: pull now, the sandbox CRMs and the demo (backfill: item9_commands)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from crmsync.cli import app, render
from crmsync.cli.settings_commands import IntegrationArg, JsonFlag, open_store


def quiet_prefect() -> None:
    """Keep Prefect's per-task log lines and telemetry out of the terminal (the UI still has them)."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def run_with_progress(integration: str, objects: list[str] | None, **kwargs: Any) -> dict[str, Any]:
    """Run the integration flow in this process, drawing a progress line per integration × object."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from crmsync.sync.context import set_progress
    from flows.sync import sync_integration

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
        try:
            return sync_integration(integration, objects, **kwargs)
        finally:
            set_progress(None)


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(result)
        return
    if result["status"] == "skipped":
        render.console.print(
            f"[yellow]{result['integration']}: skipped — the integration is paused[/] (toggle off)."
        )
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

        render.console.print(run_deployment(integration, cs_object))
        return
    result = run_with_progress(integration, [cs_object] if cs_object else None)
    _print_result(result, as_json)


@app.command()
def demo() -> None:
    """The main job: sandbox CRMs, both integrations connected, a full two-way sync, explained."""
    from crmsync.demo import run_demo

    run_demo()


@app.command()
def sandbox(
    records: Annotated[int, typer.Option(help="Companies per CRM (contacts ×1.5, deals ×0.75).")] = 1000,
    hubspot_port: Annotated[int, typer.Option(help="HubSpot sandbox port (0: any free port).")] = 8090,
    salesforce_port: Annotated[int, typer.Option(help="Salesforce sandbox port (0: any free port).")] = 8443,
) -> None:
    """Run both sandbox CRMs until Ctrl-C and print the variables that point crmsync at them."""
    import time
    from pathlib import Path

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
def deploy() -> None:
    """Make the Prefect deployments match the settings: schedules, paused state, one per object."""
    from crmsync.deploy import reconcile, work_pool

    quiet_prefect()
    for line in reconcile(open_store()):
        render.console.print(line, highlight=False)
    render.console.print(f"Start a worker to run them: [bold]prefect worker start --pool {work_pool()}[/]")
