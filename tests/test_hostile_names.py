"""Issue 10, item 2: integration names are slugs, paths stay inside CRMSYNC_HOME, text is never markup."""

import shutil

import pytest

from crmsync import config, page
from crmsync.errors import CrmsyncError
from crmsync.settings import check_name
from crmsync.store import Store


@pytest.mark.parametrize(
    "name",
    ["../../v/p", "/tmp/abs", "x[/]", "Ümlaut", "a" * 41, "a" * 300, "", "-x", "UPPER", "a b", "a.b"],
)
def test_a_name_that_is_not_a_slug_is_refused(name):
    with pytest.raises(CrmsyncError, match="integration name"):
        check_name(name)


@pytest.mark.parametrize("name", ["hubspot", "hub2", "salesforce-eu", "a" * 40, "0x"])
def test_a_slug_is_accepted(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["../../v/p", "/tmp/abs"])
def test_connect_writes_nothing_for_a_path_name(crmsync_home, name):
    store = Store()
    with pytest.raises(CrmsyncError, match="integration name"):
        page.connect(store, "hubspot", name)
    assert store.settings.integrations() == []
    assert not (crmsync_home / "v").exists()
    assert not list((crmsync_home).rglob("*.yaml"))


def test_the_store_refuses_a_bad_name_too(crmsync_home):
    with pytest.raises(CrmsyncError, match="integration name"):
        Store().settings.connect("hubspot", "../x", {})


def test_paths_from_names_stay_inside_home(crmsync_home):
    with pytest.raises(CrmsyncError, match="outside"):
        config.inside_home("mappings", "../../v/p.yaml")
    assert config.mapping_path("hubspot").is_relative_to(config.home().resolve())


def test_delete_never_touches_a_file_outside_home(crmsync_home):
    outside = crmsync_home / "v" / "p.yaml"
    outside.parent.mkdir()
    outside.write_text("keep me")
    with pytest.raises(CrmsyncError):
        page.delete(Store(), "../../v/p")
    assert outside.read_text() == "keep me"


def test_connect_saves_no_row_when_the_mapping_copy_fails(crmsync_home, monkeypatch):
    def broken_copy(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", broken_copy)
    store = Store()
    with pytest.raises((CrmsyncError, OSError)):
        page.connect(store, "hubspot")
    assert store.settings.integrations() == []


def test_a_row_from_before_names_were_slugs_can_be_shown_and_deleted(crmsync_home):
    from crmsync.models import Integration

    outside = crmsync_home / "v" / "p.yaml"
    outside.parent.mkdir()
    outside.write_text("keep me")
    store = Store()
    with store.session() as s:
        s.add(Integration(name="../../v/p", kind="hubspot", header="HubSpot"))
    assert page.page(store, "../../v/p")["name"] == "../../v/p"
    page.delete(store, "../../v/p")
    assert store.settings.integrations() == []
    assert outside.read_text() == "keep me"
