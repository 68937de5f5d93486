"""Issue 10's breakage list, the bullets no other test file held: each as it must behave now."""

from __future__ import annotations

import re

from sqlmodel import select

from crmsync import page
from crmsync.models import SyncRun
from crmsync.store import Store
from crmsync.sync.report import markdown
from flows.sync import sync_object


def test_the_run_artifact_points_to_a_quarantine_command_that_exists():
    from crmsync.cli.app import app

    text = markdown("hub-2", [{"object": "clients", "status": "completed"}], ["status 'x' …"], False)
    commands = set(re.findall(r"`crmsync (\w+) hub-2", text))
    assert commands == {"quarantine"}
    assert {c.name or c.callback.__name__ for c in app.registered_commands} >= commands


def test_a_disabled_object_run_through_its_deployment_flow_says_disabled(crmsync_home, prefect_api):
    store = Store()
    page.connect(store, "hubspot")  # no CRM is reachable: a run that read anything would fail
    store.settings.set_direction("hubspot", "clients", "disabled")
    assert sync_object("hubspot", "clients")["status"] == "disabled"
    with store.session() as s:
        assert s.exec(select(SyncRun)).all() == []
