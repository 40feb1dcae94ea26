"""Where the commands find their config (app.paths): ``PQL_CONF_DIR``, else conf/ of the checkout, else the
copy the wheel ships as the package ``pql_conf``."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

from app import paths

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


def test_a_checkout_reads_its_own_conf(monkeypatch):
    monkeypatch.delenv("PQL_CONF_DIR", raising=False)
    assert paths.conf_dir() == str(REPO_CONF)
    assert (Path(paths.CONF_DIR) / "train.yaml").is_file()


def test_pql_conf_dir_wins_and_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PQL_CONF_DIR", "~/my_conf")
    assert paths.conf_dir() == str(tmp_path / "my_conf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PQL_CONF_DIR", "relative/conf")
    assert paths.conf_dir() == str(tmp_path / "relative" / "conf")


def test_an_empty_pql_conf_dir_is_unset(monkeypatch):
    monkeypatch.setenv("PQL_CONF_DIR", "")
    assert paths.conf_dir() == str(REPO_CONF)


def test_without_a_checkout_the_shipped_copy_is_read(monkeypatch, tmp_path):
    """Installed from the wheel, src/../conf does not exist: the package pql_conf is the config."""
    monkeypatch.delenv("PQL_CONF_DIR", raising=False)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "site-packages" / "app" / "paths.py"))
    monkeypatch.setattr(importlib.resources, "files", lambda name: tmp_path / "shipped" / name)
    assert paths.conf_dir() == str(tmp_path / "shipped" / "pql_conf")

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    assert paths.conf_dir() == str(tmp_path / "conf")  # nothing to read: the error names the checkout's place
