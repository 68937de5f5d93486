"""Issue 10, item 5: one store per installation, never one per working directory."""

from pathlib import Path

from crmsync import config


def test_home_defaults_to_the_user_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMSYNC_HOME", raising=False)
    monkeypatch.delenv("CRMSYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    home = config.home()
    assert home.is_absolute() and not home.is_relative_to(tmp_path / ".crmsync")
    assert home.name == "crmsync"
    assert config.database_url() == f"sqlite:///{home / 'crmsync.db'}"


def test_the_default_store_does_not_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMSYNC_HOME", raising=False)
    monkeypatch.delenv("CRMSYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = config.database_url()
    assert Path(first.removeprefix("sqlite:///")).is_absolute()
    monkeypatch.chdir(tmp_path / "b")
    assert config.database_url() == first


def test_crmsync_home_sets_the_store_too(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMSYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("CRMSYNC_HOME", str(tmp_path / "h"))
    assert config.home() == Path(tmp_path / "h")
    assert config.database_url() == f"sqlite:///{tmp_path / 'h' / 'crmsync.db'}"
