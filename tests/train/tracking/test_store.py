"""The tracking store (train.tracking.store) under concurrency and kills (issue 9): two commands creating a
new SQLite store at once both succeed; a command killed while it creates the store leaves no store or a
usable one.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from train import tracking


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


def test_a_store_file_that_is_not_a_database_is_refused_without_touching_it(tmp_path):
    notes = tmp_path / "notadb.txt"
    notes.write_text("these are my notes\n")
    with pytest.raises(tracking.TrackingError, match=rf"tracking store {notes} is not an SQLite database") as info:
        tracking.check_store(f"sqlite:///{notes}")
    assert info.value.exit_code == 4 and notes.read_text() == "these are my notes\n"


def test_a_new_store_needs_a_folder_it_can_be_made_in(tmp_path):
    from features.errors import ConfigError

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"tracking.uri: .* cannot be created: .*afile' is a file, not a folder"):
        tracking.check_store(f"sqlite:///{tmp_path}/afile/mlflow.db")
    tracking.check_store(f"sqlite:///{tmp_path}/new/mlflow.db")  # made when connecting
    assert not (tmp_path / "new").exists()


def test_a_writable_store_passes_and_is_left_as_it_was(tmp_path):
    from train.config import TrackingConfig

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking.connect(TrackingConfig(uri=uri))
    before = (tmp_path / "mlflow.db").read_bytes()
    (tmp_path / "mlruns").mkdir()
    tracking.check_store(uri)
    assert (tmp_path / "mlflow.db").read_bytes() == before  # the write check is rolled back
    assert list((tmp_path / "mlruns").iterdir()) == []


def test_the_experiment_is_a_model_training_one_the_ui_opens_on_its_runs(tmp_path):
    from pathlib import Path

    from train.config import TrackingConfig
    from train.tracking.store import EXPERIMENT_KIND, MODEL_TRAINING, runs_page

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow = tracking.connect(TrackingConfig(uri=uri))
    client = mlflow.MlflowClient()
    created = tracking.experiment(mlflow, "new", uri)
    assert client.get_experiment(created.experiment_id).tags[EXPERIMENT_KIND] == "custom_model_development"
    # an experiment the UI (or an older run) marked as GenAI, or left unmarked, becomes a model-training one
    for name, tags in (("genai", {EXPERIMENT_KIND: "genai_development"}), ("bare", {})):
        found = client.get_experiment(client.create_experiment(name, tags=tags))
        tracking.experiment(mlflow, name, uri)
        assert client.get_experiment(found.experiment_id).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    # the installed UI knows this kind and the query that opens an experiment on its runs
    ui = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    bundle = "".join(p.read_text(errors="ignore") for p in ui.glob("main.*.js"))
    assert f'CUSTOM_MODEL_DEVELOPMENT="{MODEL_TRAINING}"' in bundle and 'MACHINE_LEARNING="machine_learning"' in bundle
    assert 'get("workflowType")' in bundle
    assert runs_page("7") == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"


def test_one_experiment_per_data_source_unless_the_config_names_one():
    from train.config import TrackingConfig

    default = TrackingConfig()
    assert tracking.experiment_for(default, "lead-funnel").experiment == "pql-train-lead-funnel"
    assert tracking.experiment_for(default, None).experiment == "pql-train"  # the demo world
    named = TrackingConfig(experiment="mine")
    assert tracking.experiment_for(named, "lead-funnel") == named
