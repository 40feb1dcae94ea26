"""python -m train on the demo world: the summary contract, learned vs rules, truth, calibration, MLflow."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from demo import DemoConfig, generate_demo
from rules.language import RuleError, RuleSet
from train.config import TrackingConfig
from train.scorer import model_input


AUC_MARGIN = 0.15  # the model may trail the generator's true probabilities by at most this much


def test_summary_json_follows_the_contract(trained):
    data = json.loads(trained.job.summary_path.read_text())
    for key in ("run_id", "model_uri", "n_train", "n_test", "base_rate", "split", "metrics", "rules"):
        assert key in data
    assert set(data["split"]) == {"train", "calibration", "test", "reported"}
    reported = [f for f in data["folds"] if f.get("reported", True)]  # model=auto: the first fold only chose
    assert data["split"]["reported"] == [min(f["test"][0] for f in reported), max(f["test"][1] for f in reported)]
    assert data["split"]["test"][0] <= data["split"]["reported"][0] <= data["split"]["reported"][1] == data["split"]["test"][1]
    assert all(len(v) == 2 and v[0].endswith("Z") for v in data["split"].values())
    assert data["split"]["train"][0] < data["split"]["test"][0] <= data["split"]["test"][1]
    # calibration is cross-fitted on the folds' out-of-time predictions: its period is the test period
    assert data["split"]["calibration"] == data["split"]["test"]
    assert {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "mean_score", "calibration_in_the_large",
            "calibration_slope"} <= set(data["metrics"])
    assert len(data["folds"]) >= 2 and all({"roc_auc", "precision_at_capacity", "train", "test"} <= set(f)
                                            for f in data["folds"])
    for fold in data["folds"]:  # each fold's model learned only from snapshots matured before the fold began
        assert pd.Timestamp(fold["train"][1]) + pd.Timedelta(days=30) <= pd.Timestamp(fold["test"][0])
    assert {"warnings", "snapshots"} <= set(data["health"])
    names = [r["name"] for r in data["rules"]]
    assert names == ["active_team", "api_builder", "seats_near_limit", "good_fit", "mql", "pmql", "any_rule",
                     "learned"]
    for rule in data["rules"]:
        assert {"flagged", "precision", "recall", "lift", "model_precision", "model_recall",
                "model_lift"} <= set(rule)


def test_model_beats_every_shipped_rule_at_equal_volume(trained):
    for rule in trained.job.summary["rules"]:
        assert rule["flagged"] > 0, rule["name"]
        assert rule["model_precision"] >= rule["precision"], rule
        assert rule["model_recall"] >= rule["recall"], rule


def test_model_auc_is_close_to_the_true_probability_auc(trained):
    # each row at the instant it was looked at (an account's first look falls inside its snapshot's week)
    test = trained.job.result.test.drop(columns="as_of").rename(columns={"looked_at": "as_of"})
    world = generate_demo(DemoConfig(accounts=3000, days=365, start="2024-01-01"))
    truth = world.true_probability(sorted(test["as_of"].unique()), horizon_days=30)
    merged = test.merge(truth, on=["account_id", "as_of"], how="inner", validate="one_to_one")
    assert len(merged) == len(test)  # the same eligible accounts as the generator's
    model_auc = roc_auc_score(merged["label"], merged["score"])
    true_auc = roc_auc_score(merged["label"], merged["p_true"])
    print(f"test AUC: model {model_auc:.3f}, true probability {true_auc:.3f}")
    assert true_auc - AUC_MARGIN <= model_auc <= true_auc + 0.02


def test_calibrated_scores_match_observed_rates(trained):
    m = trained.job.result.metrics
    assert m["ece"] < 0.02
    assert abs(trained.job.result.test["score"].mean() - m["base_rate"]) < 0.01


def test_calibration_lowers_ece_of_a_model_trained_with_reweighted_positives(trained):
    # LightGBM on log loss is nearly calibrated already; up-weighting the rare positives (a common way
    # to handle imbalance) inflates its probabilities, and the calibrator must bring them back.
    from features.config import DataConfig
    from features.data.load import load_tables
    from train.pipeline import run_training
    from train.settings import TrainSettings

    config = {**trained.config, "model": {**trained.config["model"]["lightgbm"], "scale_pos_weight": 5.0},
              "backtest": {**trained.config["backtest"], "baseline": None}}
    tables, _ = load_tables(DataConfig.from_mapping(config["data"]))
    m = run_training(tables, TrainSettings.from_mapping(config)).metrics
    assert m["ece"] < m["uncalibrated_ece"] / 2


def test_tiers_rank_conversion(trained):
    rates = trained.job.result.tier_rates.set_index("pql_tier")["conversion_rate"]
    assert rates["1"] > rates["2"] and rates["1"] > rates["none"] and rates["3"] > rates["none"]


def test_pyfunc_model_loads_in_a_fresh_process_and_predicts(trained, tmp_path):
    example = model_input(trained.job.result.input_example, trained.job.result.spec)
    example.to_parquet(tmp_path / "x.parquet")
    code = (
        "import mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({trained.uri!r})\n"
        "m = mlflow.pyfunc.load_model('models:/pql-propensity@champion')\n"
        f"out = m.predict(pd.read_parquet({str(tmp_path / 'x.parquet')!r}))\n"
        "print(list(out.columns)); print(out['score'].between(0, 1).all())\n"
    )
    # a fresh shell: MLflow 3 exports MLFLOW_*_URI when a uri is set, so this worker's environment may
    # name another test's store as the registry; the user's process has neither
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'score'" in out.stdout and "'pql_tier'" in out.stdout and "'reasons'" in out.stdout
    assert out.stdout.strip().endswith("True")


def test_registry_aliases_and_champion_promotion(trained, tmp_path):
    from train import tracking
    from train.__main__ import run_job

    mlflow = tracking.connect(TrackingConfig(uri=trained.uri))
    client = mlflow.MlflowClient()
    first = client.get_model_version_by_alias("pql-propensity", "champion").version
    assert trained.job.summary["promotion"]["reason"] == "there is no champion yet"
    # a deliberately weak model: compared with the champion on its own backtest rows, it stays challenger
    lightgbm = trained.config["model"]["lightgbm"]
    weak = run_job({**trained.config, "model": {**lightgbm, "n_estimators": 1,
                                               "params": {**lightgbm["params"], "num_leaves": 2}},
                    "backtest": {**trained.config["backtest"], "baseline": None}}, tmp_path)
    assert not weak.summary["champion"]
    promotion = weak.summary["promotion"]
    assert promotion["metric"] == "pr_auc" and promotion["champion"] > promotion["challenger"]
    assert promotion["rows"] > 0 and "same" in promotion["reason"]
    challenger = client.get_model_version_by_alias("pql-propensity", "challenger").version
    assert str(challenger) == weak.summary["model_version"]
    assert client.get_model_version_by_alias("pql-propensity", "champion").version == first


def test_an_unknown_feature_in_a_rule_fails_before_any_work(trained):
    from features.data.load import load_tables  # noqa: F401
    from train.__main__ import run_job

    config = {**trained.config, "rules": {"definitions": {"typo": {
        "description": "", "expression": "task_count_30d > 5"}}}}
    with pytest.raises(RuleError, match="did you mean .*task_created_count_30d"):
        run_job(config, trained.root)


def test_shuffled_labels_give_chance_auc(trained):
    from features.build import build_training_table
    from features.plan import plan_features
    from features.config import DataConfig, FeatureConfig
    from features.data.load import load_tables
    from train.models import fit_model
    from train.config import ModelConfig

    tables, _ = load_tables(DataConfig.from_mapping(trained.config["data"]))
    as_of = list(pd.date_range("2024-05-06", "2024-10-28", freq="7D"))
    spec = plan_features(tables, as_of[-1], FeatureConfig.from_mapping(trained.config["features"]))
    frame = build_training_table(tables, as_of, spec, 30)
    X = spec.align(frame)
    y = np.random.default_rng(0).permutation(frame["label"].to_numpy())
    train = (frame["as_of"] < as_of[16]).to_numpy()
    test = (frame["as_of"] >= as_of[20]).to_numpy()
    model = fit_model(ModelConfig.from_mapping(trained.config["model"]["lightgbm"]), X[train], y[train],
                      frame["as_of"].to_numpy()[train], spec.categorical)
    auc = roc_auc_score(y[test], model.response(X[test]))
    assert abs(auc - 0.5) < 0.06


def test_backtest_predictions_are_saved_for_recomputing_any_metric(trained):
    saved = pd.read_parquet(trained.job.summary_path.parent / "predictions.parquet")
    assert {"account_id", "as_of", "fold", "score", "label", "pql_tier", "intent_tier", "fit_tier"} <= set(saved.columns)
    assert any(c.startswith("rule_") for c in saved.columns)
    assert len(saved) == trained.job.summary["n_test"]
    auc = roc_auc_score(saved["label"], saved["score"])
    assert abs(auc - trained.job.summary["metrics"]["roc_auc"]) < 1e-9


def test_calibration_keeps_the_ranking_and_reports_calibration_in_the_large(trained):
    test, m = trained.job.result.test, trained.job.result.metrics
    assert test["score"].nunique() > 0.5 * len(test)  # no collapse into a few values
    assert abs(m["calibration_in_the_large"]) < 0.25 * m["base_rate"]
    assert 0.7 < m["calibration_slope"] < 1.3
    assert trained.job.summary["calibration"]["method"] in ("none", "sigmoid", "isotonic")


def test_tier_one_weekly_volume_is_close_to_capacity(trained):
    capacity = trained.config["capacity"]["per_week"]
    weekly = [f["tier1_per_snapshot"] for f in trained.job.summary["folds"]]
    assert all(0.6 * capacity <= w <= 1.5 * capacity for w in weekly), weekly


def test_lightgbm_defaults_beat_the_logistic_baseline_on_the_demo_world(trained):
    m = trained.job.summary
    assert m["metrics"]["roc_auc"] > m["baseline"]["roc_auc"]


def test_training_backtests_the_learned_list_out_of_fold(trained):
    result = trained.job.result
    test = result.test
    assert test["learned"].dtype == bool and test["learned"].any()
    row = result.comparison.set_index("name").loc["learned"]
    assert row["flagged"] == test["learned"].sum() and row["model_precision"] >= row["precision"] > 2 * test[
        "label"].mean()
    table = result.definitions
    assert {"name", "expression", "words", "stability", "flagged", "converted", "precision"} <= set(table)
    assert 1 <= len(table) <= 5 and table["stability"].between(0, 1).all()
    assert set(result.learned_overlap["rule"]) == set(result.scorer.rules.names)
    assert {"account_id", "as_of", "label"} <= set(result.frame.columns) and len(result.frame) > len(test)


def test_learned_rules_file_is_a_rule_set_the_trainer_accepts(trained):
    from app.paths import CONF_DIR
    from train.settings import settings_for

    path = trained.root / "learned_rules.yaml"
    assert path.read_text() == trained.job.result.learned_rules_yaml
    config = trained.compose("train", [*trained.demo, f"rules.file={path}"])
    settings, _, _ = settings_for(config, CONF_DIR)
    assert list(settings.rules) == list(trained.job.result.definitions["name"])
    # every learned rule reads features the model has (validate raises otherwise)
    RuleSet.from_config(settings.rules).validate(trained.job.result.spec.names, trained.job.result.spec.categorical)


def test_expected_value_capacity_and_revenue_are_reported(trained, tmp_path):
    from train.scorer import Scorer

    result, summary = trained.job.result, trained.job.summary
    assert (result.test["expected_value"] >= 0).all()
    scored = result.scorer.score(result.input_example, with_reasons=False)
    assert "expected_value" in scored and np.allclose(scored["expected_value"],
                                                      scored["score"] * result.scorer.amount.predict(
                                                          result.spec.align(result.input_example)))
    # the amount model travels in the bundle (amount.json, covered by the manifest)
    loaded = Scorer.load(result.scorer.save(tmp_path / "bundle"))
    assert np.allclose(loaded.score(result.input_example, with_reasons=False)["expected_value"],
                       scored["expected_value"])
    capacity = summary["capacity"]
    assert capacity["capacity_per_week"] == 50 and capacity["best_definition"]
    assert capacity["added_conversions_per_week"] == pytest.approx(
        capacity["model_conversions_per_week"] - capacity["best_conversions_per_week"])
    names = {r["name"] for r in summary["revenue"]}
    assert {"model", "learned list", "active_team"} <= names
    assert "Learned PQL definitions" in trained.job.report and "Verdict: At 50 calls a week" in trained.job.report
    assert "Revenue captured at capacity" in trained.job.report
