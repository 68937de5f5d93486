"""The CLI of the configuration page, run as a user runs it: a real process, exit codes, output."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def cli(crmsync_home):
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "crmsync", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
            timeout=60,
        )

    return run


def _ok(result) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def _one_line_error(result, text: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]


def test_connect_then_show_json(cli):
    _ok(cli("connect", "hubspot"))
    page = json.loads(_ok(cli("show", "hubspot", "--json")).stdout)
    assert page["header"] == "HubSpot"
    assert page["toggle"] == "on"
    assert page["schedule"] == "manual" and page["schedule_label"] == "Manual only"
    assert page["latest_pull"] is None and page["next_pull"] is None
    assert [(o["cs_object"], o["external_object"], o["direction_label"]) for o in page["objects"]] == [
        ("clients", "companies", "Push & Pull"),
        ("contacts", "contacts", "Push & Pull"),
        ("subscriptions", "deals", "Push & Pull"),
    ]


def test_settings_commands_change_the_page(cli):
    _ok(cli("connect", "hubspot"))
    _ok(cli("toggle", "hubspot", "off"))
    _ok(cli("direction", "hubspot", "contacts", "pull"))
    _ok(cli("schedule", "hubspot", "15m"))
    _ok(cli("object", "hubspot", "clients", "deals"))
    page = json.loads(_ok(cli("show", "hubspot", "--json")).stdout)
    assert page["toggle"] == "off" and page["schedule_label"] == "Every 15 minutes"
    assert page["next_pull"] is None  # paused
    objects = {o["cs_object"]: o for o in page["objects"]}
    assert objects["clients"]["external_object"] == "deals"
    assert objects["contacts"]["direction_label"] == "Pull from HubSpot"
    assert {f["effective"] for o in page["objects"] for f in o["fields"]} == {"none"}
    _ok(cli("toggle", "hubspot", "on"))
    page = json.loads(_ok(cli("show", "hubspot", "--json")).stdout)
    contacts = next(o for o in page["objects"] if o["cs_object"] == "contacts")
    assert {f["effective"] for f in contacts["fields"]} == {"pull"}
    assert page["next_pull"] is not None


def test_show_is_readable(cli):
    _ok(cli("connect", "salesforce"))
    out = _ok(cli("show", "salesforce")).stdout
    for text in (
        "Salesforce",
        "Global toggle: On",
        "Account",
        "Push & Pull",
        "Manual only",
        "Latest pull: never",
        "Next pull: none (manual only)",
        "ClientSuccess_Status__c",
    ):
        assert text in out


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("show", "nope"), "unknown integration 'nope' (connected: hubspot)"),
        (("schedule", "hubspot", "7m"), "unknown pull schedule '7m' (valid: manual, 5m, 10m, 15m, 30m, 60m)"),
        (("direction", "hubspot", "clients", "up"), "(valid: push-pull, push, pull, disabled)"),
        (
            ("direction", "hubspot", "deals", "pull"),
            "unknown object 'deals' (valid: clients, contacts, subscriptions)",
        ),
        (("toggle", "hubspot", "maybe"), "(valid: on, off)"),
        (("object", "hubspot", "contacts", "deals"), "no field mappings for contacts -> deals"),
        (("object", "hubspot", "clients", "tickets"), "(valid: companies, contacts, deals)"),
        (("connect", "pipedrive"), "unknown integration kind 'pipedrive' (valid: hubspot, salesforce)"),
        (("connect", "hubspot"), "already connected"),
    ],
)
def test_mistakes_are_one_line(cli, args, text):
    _ok(cli("connect", "hubspot"))
    _one_line_error(cli(*args), text)


def test_delete_asks_and_leaves_other_integrations_alone(cli, crmsync_home):
    _ok(cli("connect", "hubspot"))
    _ok(cli("connect", "salesforce"))
    _ok(cli("schedule", "salesforce", "30m"))
    before = json.loads(_ok(cli("show", "salesforce", "--json")).stdout)
    mapping = crmsync_home / ".crmsync" / "mappings" / "hubspot.yaml"
    assert mapping.exists()

    refused = cli("delete", "hubspot", stdin="hub\n")
    _one_line_error(refused, "not deleted")
    assert "cannot be undone" in refused.stdout.replace("\n", " ").lower()
    assert mapping.exists()

    _ok(cli("delete", "hubspot", stdin="hubspot\n"))
    assert not mapping.exists()
    assert [i["name"] for i in json.loads(_ok(cli("integrations", "--json")).stdout)] == ["salesforce"]
    assert json.loads(_ok(cli("show", "salesforce", "--json")).stdout) == before

    _ok(cli("connect", "hubspot"))
    _ok(cli("delete", "hubspot", "--yes"))
    _one_line_error(cli("show", "hubspot"), "unknown integration 'hubspot'")


def test_mappings_check(cli, crmsync_home):
    _ok(cli("connect", "hubspot", "--name", "hubspot-eu"))
    out = _ok(cli("mappings", "check", "--json")).stdout
    files = {row["file"]: row["ok"] for row in json.loads(out)}
    assert len(files) == 3 and all(files.values())
    own = crmsync_home / ".crmsync" / "mappings" / "hubspot-eu.yaml"
    own.write_text(own.read_text().replace("cs: phone", "cs: fax", 1))
    result = cli("mappings", "check")
    assert result.returncode == 1
    assert "hubspot-eu.yaml: objects[0].fields[6].cs: unknown ClientSuccess field 'fax'" in result.stderr
    _one_line_error(cli("show", "hubspot-eu"), "unknown ClientSuccess field 'fax'")


def test_help_lists_the_page_verbs(cli):
    out = _ok(cli("--help")).stdout
    for verb in (
        "integrations",
        "connect",
        "show",
        "toggle",
        "direction",
        "object",
        "schedule",
        "mappings",
        "delete",
    ):
        assert verb in out


def test_connect_checks_credentials_with_one_call(cli, hubspot_sandbox, monkeypatch):
    hubspot_sandbox.app.reset_counters()
    result = _ok(cli("connect", "hubspot"))
    assert "Credentials work" in result.stdout
    # one credentials check, then one describe per object for the field mappings' live check
    assert hubspot_sandbox.app.counters == {
        "list:companies": 1,
        "properties:companies": 1,
        "properties:contacts": 1,
        "properties:deals": 1,
    }

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-wrong-canary-token")
    bad = cli("connect", "hubspot", "--name", "hubspot-two")
    _one_line_error(bad, "HubSpot")
    assert "pat-wrong-canary-token" not in bad.stderr + bad.stdout
    _one_line_error(cli("show", "hubspot-two"), "unknown integration 'hubspot-two'")  # nothing recorded


def test_connect_without_credentials_records_and_warns(cli, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    result = _ok(cli("connect", "hubspot"))
    assert "no HubSpot credentials are set yet" in result.stderr
