"""Training and scoring runs (train.tracking.runs): runs left RUNNING by a dead process are marked FAILED by the next run."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from train import tracking
from train.config import TrackingConfig


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


def test_a_scoring_run_logs_metrics_named_after_any_user_column(tmp_path):
    track = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db")
    metrics = {"psi_Employees (count, self-reported)": 0.3, 'psi_Industry: "main"': 0.1, "accounts": 5.0}
    run_id = tracking.log_scoring(track, {"as_of": "2024-06-01"}, metrics, {})
    logged = tracking.connect(track).MlflowClient().get_run(run_id).data.metrics
    assert logged == {"psi_Employees _count_ self-reported_": 0.3, "psi_Industry: _main_": 0.1, "accounts": 5.0}


def test_params_never_hold_a_database_password():
    from train.tracking import flatten

    params = flatten({"output": "postgresql://pql:s3cret@db:5432/crm", "tracking": {"uri": "sqlite:///mlflow.db"}})
    assert params == {"output": "postgresql://pql:***@db:5432/crm", "tracking.uri": "sqlite:///mlflow.db"}


def test_the_newest_training_run_is_found_in_any_data_source_experiment(tmp_path):
    import json
    import time

    track = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db")
    mlflow = tracking.connect(track)
    files = tmp_path / "files"
    (files / "backtest").mkdir(parents=True)
    for name in ("comparison", "deciles", "pql_tiers", "importance"):
        (files / "backtest" / f"{name}.csv").write_text("a\n1\n")
    ids = {}
    for experiment in ("pql-train", "pql-train-crm", "pql-trainer"):  # the newest, in another experiment
        (files / "summary.json").write_text(json.dumps({"experiment": experiment}))
        found = tracking.experiment(mlflow, experiment, track.uri)
        with mlflow.start_run(experiment_id=found.experiment_id) as run:
            mlflow.log_artifacts(str(files))
        ids[experiment] = run.info.run_id
        time.sleep(0.01)
    assert tracking.latest_training_run(track).summary == {"experiment": "pql-train-crm"}
    named = TrackingConfig(uri=track.uri, experiment="pql-trainer")
    assert tracking.latest_training_run(named).run_id == ids["pql-trainer"]
