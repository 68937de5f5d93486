"""Issue 10, item 4: one CRM account is connected once, unless the user says so explicitly."""

import json
import os
import subprocess
import sys

import pytest

from crmsync import page
from crmsync.errors import CrmsyncError
from crmsync.store import Store

ACCOUNT = "hubspot https://api.hubapi.com"


class _Account:
    """A checked connector as page.connect sees it: its account identity and its schema."""

    account = ACCOUNT

    def describe(self, obj):
        from crmsync.config import default_mapping_path
        from crmsync.connectors.base import FieldInfo
        from crmsync.mapping.live import _named_fields
        from crmsync.mapping.spec import load_mapping

        names = {n for _, o, n in _named_fields(load_mapping(default_mapping_path("hubspot"))) if o == obj}
        return [FieldInfo(name=n, label=n, type="string") for n in names]


def test_the_same_account_twice_is_refused_with_the_reason(crmsync_home):
    store = Store()
    page.connect(store, "hubspot", account=_Account())
    assert store.settings.integration("hubspot").account == ACCOUNT
    with pytest.raises(CrmsyncError, match=r"same .*account.*duplicated on both sides.*--allow-same-account"):
        page.connect(store, "hubspot", "hub2", account=_Account())
    assert [row.name for row in store.settings.integrations()] == ["hubspot"]
    page.connect(store, "hubspot", "hub2", account=_Account(), allow_same_account=True)
    assert [row.name for row in store.settings.integrations()] == ["hub2", "hubspot"]


def test_the_cli_refuses_a_second_connection_to_one_account(crmsync_home, hubspot_sandbox):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "crmsync", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
            timeout=60,
        )

    assert cli("connect", "hubspot").returncode == 0
    second = cli("connect", "hubspot", "--name", "hub2")
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert "duplicated on both sides" in second.stderr
    assert cli("connect", "hubspot", "--name", "hub2", "--allow-same-account").returncode == 0
    names = [row["name"] for row in json.loads(cli("integrations", "--json").stdout)]
    assert names == ["hub2", "hubspot"]
