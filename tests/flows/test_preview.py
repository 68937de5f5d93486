"""Sync preview, per CRM and store: the sync's run path with every write switched off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crmsync import config, page
from crmsync.models import Client
from crmsync.store import Store
from crmsync.sync.preview import PREVIEW, preview_integration, preview_object
from crmsync.sync.readonly import PreviewWriteError, ReadOnlyStore, read_only_connector
from flows.sync import sync_integration
from tests.flows.test_sync import _links


def _snapshot(store: Store) -> dict[str, list[str]]:
    """Every row of every table (CS tables, settings and sync state), as text."""
    meta = sa.MetaData()
    meta.reflect(store.engine)
    with store.engine.connect() as conn:
        return {name: sorted(map(repr, conn.execute(sa.select(t)).all())) for name, t in meta.tables.items()}


def _prepare(crm) -> tuple[Store, int, str, int]:
    """A synced integration, then a CRM edit, a CS edit and a CS value no CRM option accepts."""
    store = Store()
    page.connect(store, crm.kind)
    path = config.mapping_path(crm.kind)
    text = path.read_text().replace("Trial: Trial", "Trial: Trialing")  # not a CRM option
    path.write_text(text.replace("Inactive: Inactive", "Inactive: INACTIVE"))  # an option, in another case
    sync_integration(crm.kind)
    (a, a_ext), (b, _) = sorted(_links(store, crm.kind, "clients").items())[:2]
    crm.edit("clients", a_ext, {crm.fields["name"]: "Renamed in the CRM"})
    with store.session() as s:
        s.exec(sa.update(Client).where(Client.id == b).values(name="Renamed in ClientSuccess"))
        s.add(Client(name="Only in ClientSuccess", domain="only-cs.example.net", status="Active"))
        s.add(Client(name="On trial", domain="on-trial.example.net", status="trial"))
        s.add(Client(name="Gone quiet", domain="gone-quiet.example.net", status="inactive"))
    return store, a, a_ext, b


def test_preview_reports_both_sides_and_writes_nothing(crm):
    store, a, a_ext, b = _prepare(crm)
    before = _snapshot(store)
    crm.reset()

    result = preview_integration(store, crm.kind)

    assert crm.write_calls() == 0  # the sandbox saw no write call at all
    assert _snapshot(store) == before  # links, cursors, quarantine, conflicts, runs, CS tables
    clients = next(o for o in result["objects"] if o["cs_object"] == "clients")
    pulled = {(d["change"], d["record"], d["field"]): (d["old"], d["new"]) for d in clients["pull"]["diffs"]}
    assert pulled[("update", str(a), "name")][1] == "Renamed in the CRM"
    assert clients["pull"]["update"] >= 1
    pushed = {(d["change"], d["record"], d["field"]): d for d in clients["push"]["diffs"]}
    name = crm.fields["name"]
    assert pushed[("update", str(b), name)]["new"] == "Renamed in ClientSuccess"
    assert pushed[("update", str(b), name)]["old"] != "Renamed in ClientSuccess"
    assert clients["push"]["create"] == 2
    with store.session() as s:
        on_trial, gone_quiet = (
            s.exec(sa.select(Client.id).where(Client.name == n)).scalar_one()
            for n in ("On trial", "Gone quiet")
        )
    rejected = {r["record"]: r["reason"] for r in clients["rejected_options"]}
    assert "'Trialing' has no match" in rejected[str(on_trial)]  # rejected before any API call
    assert str(gone_quiet) not in rejected  # INACTIVE resolves to the live option's exact case
    assert pushed[("create", str(gone_quiet), crm.fields["status"])]["new"] == "Inactive"
    assert clients["push"]["quarantine"] >= 1

    sync_integration(crm.kind)  # the real sync then does what the preview said
    assert crm.all("clients", [name])[a_ext][name] == "Renamed in the CRM"


def test_preview_store_and_connector_refuse_writes(crm):
    store = Store()
    page.connect(store, crm.kind)
    guarded = ReadOnlyStore(store)
    with pytest.raises(PreviewWriteError):
        guarded.state.apply_pull(None, None, "run")
    with pytest.raises(PreviewWriteError):
        guarded.settings.set_enabled(crm.kind, False)
    with pytest.raises(PreviewWriteError):
        read_only_connector(crm.connector).write("companies", [])
    assert preview_object(store, crm.kind, "clients", PREVIEW)["pull"]["create"] == 40


def test_preview_flow_publishes_tables_and_the_cli_prints_them(crm, prefect_api, monkeypatch):
    import json
    import os
    import subprocess
    import sys

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.preview import preview_sync

    store = Store()
    page.connect(store, crm.kind)
    before = _snapshot(store)
    crm.reset()
    result = preview_sync(crm.kind, "clients")
    assert result["objects"][0]["pull"]["create"] == 40
    assert crm.write_calls() == 0 and _snapshot(store) == before
    with get_client(sync_client=True) as client:
        keys = ArtifactFilterKey(any_=[f"preview-{crm.kind}", f"preview-{crm.kind}-diffs"])
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=keys))
    assert {a.key for a in artifacts} == {f"preview-{crm.kind}", f"preview-{crm.kind}-diffs"}
    assert all(a.type == "table" for a in artifacts)

    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    command = [sys.executable, "-m", "crmsync", "preview", crm.kind, "clients"]
    shown = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "sync preview (nothing written)" in shown.stdout and "pull into ClientSuccess" in shown.stdout
    as_json = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert len(json.loads(as_json.stdout)["objects"][0]["pull"]["diffs"]) > 50  # all diffs, not the first 50
    assert crm.write_calls() == 0 and _snapshot(store) == before
    bad = subprocess.run(
        [*command[:-1], "nothing"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_a_preview_runs_from_its_deployment_in_the_prefect_ui(deployed_crm):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.flow_engine import run_flow

    from flows.preview import preview_sync

    crm, store = deployed_crm
    before = _snapshot(store)
    crm.reset()
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"crmsync-preview/{crm.kind}-preview")
        flow_run = client.create_flow_run_from_deployment(deployment.id)  # the UI's Run button
    assert not deployment.schedules and deployment.parameters == {"integration": crm.kind}

    result = run_flow(preview_sync, flow_run=flow_run, parameters=flow_run.parameters)  # as a worker does

    assert [o["pull"]["create"] for o in result["objects"]] == [5, 5, 5]
    assert crm.write_calls() == 0 and _snapshot(store) == before
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).name == f"{crm.kind} · preview"
        ours = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        tables = {a.key for a in client.read_artifacts(artifact_filter=ours) if a.type == "table"}
    assert tables == {f"preview-{crm.kind}", f"preview-{crm.kind}-diffs"}
