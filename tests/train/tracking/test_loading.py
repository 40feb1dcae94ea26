"""Loading a model never runs code or data this pipeline did not write (issue 9).

Refused with one line and exit code 4: a cloudpickle pyfunc (by path or through a registry alias),
a line appended to the model's code file, and a bundle that was edited, truncated or damaged --
before LightGBM or MLflow reads any of it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from train import tracking
from train.bundle import write_manifest
from train.config import TrackingConfig
from train.tracking import TrackingError


@pytest.fixture(scope="module")
def track(trained) -> TrackingConfig:
    return TrackingConfig(**trained.config["tracking"])


@pytest.fixture
def model_copy(trained, track, tmp_path) -> Path:
    """A local copy of the trained champion model (the folder MLflow logged)."""
    import mlflow

    tracking.connect(track)
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{track.registered_model}@champion",
                                               dst_path=str(tmp_path / "download"))
    return Path(local)


class Payload:
    """Unpickling this touches a marker file: proof that loading ran the model's code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _cloudpickle_model(folder: Path, marker: Path) -> Path:
    import mlflow

    class Evil(mlflow.pyfunc.PythonModel):
        def __init__(self):
            self.payload = Payload(str(marker))

        def predict(self, context, model_input, params=None):
            return model_input

    mlflow.pyfunc.save_model(str(folder), python_model=Evil())
    marker.unlink(missing_ok=True)  # saving may have built the payload; only loading matters
    return folder


def test_the_registered_champion_carries_its_hash_and_loads(trained, track):
    from mlflow import MlflowClient

    tracking.connect(track)
    mv = MlflowClient().get_model_version_by_alias(track.registered_model, "champion")
    assert len(mv.tags[tracking.HASH_TAG]) == 64
    model = tracking.load_model(f"models:/{track.registered_model}@champion", track)
    assert model.unwrap_python_model().scorer.spec.names == trained.job.result.spec.names


def test_a_local_copy_loads_by_path(model_copy, track):
    model = tracking.load_model(str(model_copy), track)
    assert model.unwrap_python_model().scorer is not None


def test_a_cloudpickle_pyfunc_by_path_is_refused_without_unpickling(tmp_path, track):
    marker = tmp_path / "ran"
    folder = _cloudpickle_model(tmp_path / "evil", marker)
    with pytest.raises(TrackingError) as info:
        tracking.load_model(str(folder), track)
    assert "refusing to load model" in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 4
    assert not marker.exists()


def test_a_cloudpickle_pyfunc_behind_a_registry_alias_is_refused(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path}/store.db"
    track = TrackingConfig(uri=uri, registered_model="evil-pql")
    tracking.connect(track)
    marker = tmp_path / "ran"
    folder = _cloudpickle_model(tmp_path / "evil", marker)
    mlflow.set_experiment("evil")
    with mlflow.start_run():
        mlflow.log_artifacts(str(folder), "model")
        run_id = mlflow.active_run().info.run_id
    marker.unlink(missing_ok=True)
    version = mlflow.register_model(f"runs:/{run_id}/model", "evil-pql")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("evil-pql", "champion", version.version)
    for tags in ({}, {tracking.HASH_TAG: "0" * 64}):  # without a hash, and with a forged one
        for key, value in tags.items():
            client.set_model_version_tag("evil-pql", version.version, key, value)
        with pytest.raises(TrackingError, match="refusing to load model"):
            tracking.load_model("models:/evil-pql@champion", track)
        assert not marker.exists()


def test_a_line_appended_to_the_model_code_is_never_run(model_copy, tmp_path, track):
    marker = tmp_path / "ran"
    code = model_copy / "pyfunc_model.py"
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    with pytest.raises(TrackingError, match="pyfunc_model.py was changed"):
        tracking.load_model(str(model_copy), track)
    assert not marker.exists()


def test_a_model_whose_stored_hash_differs_is_refused(model_copy, tmp_path, track):
    # a consistent edit (manifest rewritten too) still differs from the hash recorded at registration
    spec = model_copy / "artifacts" / "bundle" / "spec.json"
    spec.write_text(spec.read_text() + " ")
    write_manifest(spec.parent, model_copy / "pyfunc_model.py")
    with pytest.raises(TrackingError, match="content hash does not match"):
        tracking.verify_model_dir(model_copy, "models:/x/1", digest="0" * 64)


def test_serve_refuses_a_cloudpickle_model_uri(trained, tmp_path):
    marker = tmp_path / "ran"
    folder = _cloudpickle_model(tmp_path / "evil", marker)
    out = tmp_path / "scores.parquet"
    done = subprocess.run([sys.executable, "-m", "serve", *trained.demo, f"tracking.uri={trained.uri}",
                           f"model_uri={folder}", f"output={out}", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: refusing to load model")
    assert "Downloading artifacts" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and not marker.exists()
