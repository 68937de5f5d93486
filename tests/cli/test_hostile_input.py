"""Issue 10, item 2 at the command line: bad names are one-line errors, CRM text is never markup."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def cli(crmsync_home):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "crmsync", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
            timeout=60,
        )

    return run


@pytest.mark.parametrize("name", ["x[/]", "../../v/p", "Ümlaut"])
def test_a_bad_name_is_a_one_line_error_and_nothing_is_saved(cli, name):
    result = cli("connect", "hubspot", "--name", name)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "integration name" in lines[0], result.stderr
    listed = cli("integrations", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_markup_in_a_mapping_is_printed_as_text(cli, crmsync_home):
    assert cli("connect", "hubspot").returncode == 0
    own = crmsync_home / ".crmsync" / "mappings" / "hubspot.yaml"
    text = own.read_text()
    assert "{cs: name, external: name," in text
    own.write_text(text.replace("{cs: name, external: name,", '{cs: name, external: "[/]",', 1))
    result = cli("show", "hubspot")
    assert result.returncode == 0, result.stderr
    assert "[/]" in result.stdout
    assert cli("integrations").returncode == 0


def test_mappings_check_names_an_unknown_crm_property(cli, crmsync_home, hubspot_sandbox):
    assert cli("connect", "hubspot").returncode == 0
    own = crmsync_home / ".crmsync" / "mappings" / "hubspot.yaml"
    own.write_text(own.read_text().replace("{cs: phone, external: phone,", "{cs: phone, external: phnoe,", 1))
    result = cli("mappings", "check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert (
        "hubspot.yaml: objects[0].fields[6].external: unknown HubSpot field 'phnoe' of companies" in errors[0]
    )
