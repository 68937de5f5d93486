"""Field import from the live API, suggestions that keep the mapping file, and ``mappings check --remote``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from crmsync import config, page
from crmsync.fields import remote_fields, write_suggestions
from crmsync.mapping.spec import load_mapping
from crmsync.store import Store


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "crmsync", *args]
    return subprocess.run(
        command, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False
    )


def test_fields_come_from_the_live_api_with_exact_case_options(crm):
    store = Store()
    page.connect(store, crm.kind)
    done = _cli("fields", crm.kind, "clients", "--json")
    assert done.returncode == 0, done.stderr
    by_name = {f["name"]: f for f in json.loads(done.stdout)["fields"]}
    status = by_name[crm.fields["status"]]
    assert status["mapped"] and status["type"] == "enumeration"
    assert {"Active", "Trial", "Inactive", "Terminated"} <= set(status["options"])  # exact case
    assert by_name[crm.fields["name"]]["mapped"]
    assert any(not f["mapped"] for f in by_name.values())


def test_write_adds_commented_suggestions_and_keeps_every_byte(crm):
    store = Store()
    page.connect(store, crm.kind)
    path = config.mapping_path(crm.kind)
    original = path.read_bytes()
    before = load_mapping(path)
    fields = remote_fields(store, crm.kind, "contacts")

    added = write_suggestions(fields)

    assert added and not set(added) & {f["name"] for f in fields["fields"] if f["mapped"]}
    new = path.read_bytes()
    suggested = [line for line in new.splitlines(keepends=True) if b"# suggested:" in line]
    assert len(suggested) == len(added)
    assert b"".join(line for line in new.splitlines(keepends=True) if b"# suggested:" not in line) == original
    cut = new.index(suggested[0])
    assert new[:cut] == original[:cut]  # everything before the insertion is unchanged, byte for byte
    assert new[cut + sum(map(len, suggested)) :] == original[cut:]  # and everything after it
    assert load_mapping(path) == before  # suggestions are comments: the mapping itself is unchanged
    assert write_suggestions(remote_fields(store, crm.kind, "contacts")) == []  # no duplicates on a re-run


def test_mappings_check_remote_flags_gone_fields_and_bad_value_map_targets(crm):
    store = Store()
    page.connect(store, crm.kind)
    assert _cli("mappings", "check", "--remote").returncode == 0
    path = config.mapping_path(crm.kind)
    text = path.read_text().replace("Trial: Trial", "Trial: trial")
    path.write_text(text.replace(f"external: {crm.fields['title']}", "external: gone_field", 1))

    done = _cli("mappings", "check", "--remote")

    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert any("gone_field: no such field in the CRM" in line for line in lines)
    assert any("value_map target 'trial' is not an option" in line for line in lines)
    assert "Traceback" not in done.stderr
