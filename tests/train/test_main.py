"""python -m train as Hydra users know it: --multirun over models gives one tracked run each."""
from __future__ import annotations

import subprocess
import sys

SMALL = ["data.demo.accounts=600", "data.demo.days=240", "data.demo.start=2024-01-01", "progress=false",
         "backtest.baseline=null"]


def test_multirun_over_models_gives_two_tracked_runs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = subprocess.run([sys.executable, "-m", "train", "--multirun", "model=lightgbm,logistic", *SMALL,
                          f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/multirun"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    from train import tracking
    from train.config import TrackingConfig

    client = tracking.connect(TrackingConfig(uri=uri)).MlflowClient()
    experiment = client.get_experiment_by_name("pql-train")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["model.name"] for r in runs) == ["lightgbm", "logistic"]
    assert len(list((tmp_path / "multirun").glob("*/summary.json"))) == 2
    assert "Learned model vs hand-defined PQL rules" in out.stdout
    # a sweep never moves the champion: the first job found none, the second is only a challenger
    assert out.stdout.count("is the new champion") <= 1
    # per-fold metrics are charted by step (the fold number), never a metric counting the folds
    metrics = runs[0].data.metrics
    assert "fold_roc_auc" in metrics and "fold_fold" not in metrics and "fold_reported" not in metrics
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "fold_roc_auc")] == sorted(
        {m.step for m in client.get_metric_history(runs[0].info.run_id, "fold_roc_auc")})
