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


def test_the_registered_model_has_a_description_and_tags(tmp_path):
    from train.tracking.registry import describe_version

    client = tracking.connect(TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db")).MlflowClient()
    run = client.create_run(client.create_experiment("e"))
    version = _version(client, "m", run.info.run_id)
    tags = {"pql.model": "lightgbm", "pql.horizon_days": "7", "pql.data": "folder /x", "pql.overrides": "a=1"}
    describe_version(client, "m", version, "abc", tags, "lightgbm, P(convert within 7 days)")
    model = client.get_registered_model("m")
    assert "propensity" in model.description and "champion" in model.description
    assert {k: model.tags.get(k) for k in ("pql.kind", "pql.model", "pql.horizon_days", "pql.data",
                                           "pql.latest_version")} == {
        "pql.kind": "propensity", "pql.model": "lightgbm", "pql.horizon_days": "7", "pql.data": "folder /x",
        "pql.latest_version": version}
    assert "pql.overrides" not in model.tags
    assert client.get_model_version("m", version).description.startswith("lightgbm")
