"""Shared fixtures: tiny hand-made tables and one small demo world per session."""
from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# OpenMP threads that spin while they wait (the default) slowed LightGBM 100x here whenever another
# process used the second core; passive waiting costs nothing measurable on a quiet machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture(autouse=True)
def restore_mlflow_uris():
    """tracking.connect() points MLflow -- and, through the MLFLOW_*_URI variables MLflow 3 exports,
    every later subprocess -- at a test's own store: put the previous ones back after every test, so a
    later test on this worker never reads another test's registry."""
    import sys

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    env = {name: os.environ.get(name) for name in names}
    mlflow = sys.modules.get("mlflow")  # not imported for tests that never touch MLflow
    uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) if mlflow else None
    yield
    if uris is not None:
        mlflow.set_tracking_uri(uris[0])
        mlflow.set_registry_uri(uris[1])
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).as_unit("us")


def frames(accounts=None, events=None, conversions=None, touches=None) -> dict:
    """Tiny tables in the contract's shape, with sensible defaults."""
    if accounts is None:
        accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [ts("2024-01-01"), ts("2024-01-01")],
                                 "industry": ["software", "retail"], "seats": [5, 10]})
    if events is None:
        events = pd.DataFrame({"account_id": ["a"], "event": ["task"], "timestamp": [ts("2024-01-10")],
                               "user_id": ["u1"], "quantity": [1.0]})
    if conversions is None:
        conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                    "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches}


class _GroupModules:
    """Under ``-n``, a module whose tests share a module-scoped fixture runs on one worker (it is built once)."""

    @pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
    def pytest_collection_modifyitems(self, config, items):
        for item in items:
            defs = item._fixtureinfo.name2fixturedefs.values()
            if not item.get_closest_marker("xdist_group") and any(d[-1].scope == "module" for d in defs if d):
                item.add_marker(pytest.mark.xdist_group(item.module.__name__))


class _ApplyGroups:
    """Make ``--dist loadgroup`` group again under pytest 9: xdist 3.8 appends ``@group`` to ``item._nodeid``,
    which pytest 9 no longer reads (the node id lives in ``item._id``), so every test ran on any worker and
    the Spark tests started a JVM on both. This sets the id xdist meant."""

    @pytest.hookimpl(trylast=True)  # after pytest-xdist named the groups
    def pytest_collection_modifyitems(self, config, items):
        from _pytest.nodeid import coerce_node_id

        for item in items:
            wanted = getattr(item, "_nodeid", None)
            if isinstance(wanted, str) and "@" in wanted and item.nodeid != wanted:
                item._id = coerce_node_id(wanted)


def pytest_configure(config):
    """Register the two grouping hooks: pytest reads only hooks named ``pytest_*`` (a conftest function with
    another name and ``specname=`` is never called), and one module cannot hold two of one name."""
    config.pluginmanager.register(_GroupModules(), "pql-group-modules")
    config.pluginmanager.register(_ApplyGroups(), "pql-apply-xdist-groups")


def tiny_folder(data, timestamp: str = "2024-01-02", **extra: pd.DataFrame):
    """A folder of CSVs with one account ``a``, one event at ``timestamp`` (any text: a bad one makes the log
    fail) and no conversion, plus ``extra`` tables (``users=frame`` ...): a command's smallest input."""
    data.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"account_id": ["a"], "created_at": ["2024-01-01"]}).to_csv(data / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["a"], "event": ["x"], "timestamp": [timestamp]}).to_csv(
        data / "events.csv", index=False)
    pd.DataFrame({"account_id": [], "converted_at": []}).to_csv(data / "conversions.csv", index=False)
    for name, frame in extra.items():
        frame.to_csv(data / f"{name}.csv", index=False)
    return data


def run_features(tmp_path, *args: str):
    """``python -m features ARGS`` in ``tmp_path`` (its Hydra run folder there too): the finished process."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "features", *args, f"hydra.run.dir={tmp_path}/run"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)


def error_lines(out) -> list[str]:
    """The ``error:`` lines a finished command wrote to stderr."""
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def make_frames():
    return frames


# -- one small demo world, trained once per test session ----------------------------------------

DEMO = ["data.demo.accounts=3000", "data.demo.days=365", "data.demo.start=2024-01-01", "progress=false"]


def compose_plain(command: str, overrides: list[str]) -> dict:
    """The real Hydra config of a command, composed with overrides, as plain containers."""
    from omegaconf import OmegaConf

    from app.preflight import compose_config

    return OmegaConf.to_container(compose_config(command, overrides), resolve=True)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A model trained on the demo world, tracked in a temporary MLflow store."""
    from types import SimpleNamespace

    from train.__main__ import run_job

    root = tmp_path_factory.mktemp("trained")
    uri = f"sqlite:///{root}/mlflow.db"
    config = compose_plain("train", [*DEMO, f"tracking.uri={uri}"])
    job = run_job(config, root)
    return SimpleNamespace(root=root, uri=uri, config=config, job=job, demo=DEMO, compose=compose_plain)
