"""The tracking store under concurrency and kills (issue 9).

Two commands creating a new SQLite store at once both succeed; a command killed while it creates
the store leaves no store or a usable one; the champion alias moves only once the run is complete;
runs whose process died while RUNNING are marked FAILED by the next run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from train import tracking
from train.promotion import Decision
from train.config import TrackingConfig


# creates (or opens) the store, then its experiment, then a run: what `python -m train` does first
_CLIENT = """
import sys, time
from train import tracking
from train.config import TrackingConfig
uri, start = sys.argv[1], float(sys.argv[2])
import mlflow  # the slow import before the barrier, so both processes race on the store itself
print("ready", flush=True)
while time.time() < start:
    time.sleep(0.005)
track = TrackingConfig(uri=uri)
mlflow = tracking.connect(track)
experiment = tracking.experiment(mlflow, track.experiment, uri)
with mlflow.start_run(experiment_id=experiment.experiment_id):
    mlflow.log_metric("x", 1.0)
print("ok", experiment.experiment_id, flush=True)
"""


def _spawn(uri: str, start: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CLIENT, uri, str(start)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("attempt", range(1))
def test_two_processes_creating_one_new_store_both_succeed(tmp_path, attempt):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    start = time.time() + 12  # past both processes' imports, even on a busy machine
    procs = [_spawn(uri, start) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]
        assert "ok" in out
    assert len({out.split()[-1] for out, _ in outs}) == 1  # one experiment, found by both
    assert not list(tmp_path.glob(".mlflow.db.tmp-*"))


@pytest.mark.parametrize("delay", [0.8])
def test_a_kill_while_creating_the_store_leaves_none_or_a_usable_one(tmp_path, delay):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = _spawn(uri, 0)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # whatever the moment of the kill, the next command works on the store
    done = subprocess.run([sys.executable, "-c", _CLIENT, uri, "0"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(tmp_path.glob(".mlflow.db.tmp-*"))


def test_store_creation_is_atomic_in_process(tmp_path):
    uri = f"sqlite:///{tmp_path}/sub/mlflow.db"
    tracking.ensure_sqlite_store(uri)
    db = tmp_path / "sub" / "mlflow.db"
    assert db.is_file() and db.stat().st_size > 0
    before = db.stat().st_mtime_ns
    tracking.ensure_sqlite_store(uri)  # an existing store is left alone
    assert db.stat().st_mtime_ns == before


# -- promotion last; abandoned runs ------------------------------------------------------------------


def _version(client, name: str, run_id: str) -> str:
    try:
        client.create_registered_model(name)
    except Exception:
        pass
    return str(client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id).version)


def test_promote_waits_for_the_summary(tmp_path):
    track = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", registered_model="m")
    mlflow = tracking.connect(track)
    client = mlflow.MlflowClient()
    experiment = tracking.experiment(mlflow, track.experiment, track.uri)
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_metric("pr_auc", 0.3)
    version = _version(client, "m", run.info.run_id)
    info = tracking.RunInfo(run.info.run_id, f"models:/m/{version}", version, False, experiment.experiment_id)
    evaluation = Decision(True, "there is no champion yet")
    assert tracking.promote(info, track, evaluation) is False  # killed before summary.json: never champion
    with pytest.raises(Exception):
        client.get_model_version_by_alias("m", "champion")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"run_id": run.info.run_id}))
    tracking.log_summary(run.info.run_id, summary, track)
    assert tracking.promote(info, track, evaluation) is True
    assert str(client.get_model_version_by_alias("m", "champion").version) == version


def test_runs_left_running_by_a_dead_process_are_marked_failed(tmp_path):
    import socket

    track = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db")
    mlflow = tracking.connect(track)
    client = mlflow.MlflowClient()
    experiment = tracking.experiment(mlflow, track.experiment, track.uri)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    here = socket.gethostname()
    runs = {
        "dead": {tracking.PID_TAG: dead, tracking.HOST_TAG: here},
        "alive": {tracking.PID_TAG: str(os.getppid()), tracking.HOST_TAG: here},
        "elsewhere": {tracking.PID_TAG: "1", tracking.HOST_TAG: "another-host"},
        "untagged": {},
    }
    ids = {k: client.create_run(experiment.experiment_id, tags=tags).info.run_id for k, tags in runs.items()}
    failed = tracking.fail_abandoned_runs(client, experiment.experiment_id)
    assert failed == [ids["dead"]]
    status = {k: client.get_run(i).info.status for k, i in ids.items()}
    assert status == {"dead": "FAILED", "alive": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING"}
    # runs of other hosts (or without a pid) are abandoned once older than the bound
    later = int(time.time() * 1000) + (tracking.STALE_AFTER_S + 60) * 1000
    assert sorted(tracking.fail_abandoned_runs(client, experiment.experiment_id, now_ms=later)) == \
        sorted([ids["elsewhere"], ids["untagged"]])
    assert client.get_run(ids["alive"]).info.status == "RUNNING"  # its process still lives, whatever its age
