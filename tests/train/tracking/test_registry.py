"""The model registry (train.tracking.registry): the champion alias moves only once the run is complete."""
from __future__ import annotations

import json

import pytest

from train import tracking
from train.config import TrackingConfig
from train.promotion import Decision


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
