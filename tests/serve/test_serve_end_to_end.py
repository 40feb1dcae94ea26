"""python -m serve after training: the scores table, tiers, rules, safe writes, safety checks, monitoring."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.errors import DataError
from serve.job import run_job
from train.tracking import TrackingError

AS_OF = "2024-12-02"


def _config(trained, output, **extra):
    overrides = [*trained.demo, f"tracking.uri={trained.uri}", f"as_of={AS_OF}", f"output={output}",
                 "alerts.warm_days=0"]  # each run writes its own day only (the demo's warm-up: test_job.py)
    return {**trained.compose("serve", overrides), **extra}


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("served") / "scores.parquet"
    return run_job(_config(trained, out)), out


def test_scores_table_has_the_contract_columns(served, trained):
    job, out = served
    scores = pd.read_parquet(out)
    rules = [f"rule_{n}" for n in ("active_team", "api_builder", "seats_near_limit", "good_fit", "mql", "pmql")]
    assert list(scores.columns) == ["account_id", "as_of", "score", "intent_score", "fit_score", "intent_tier",
                                    "fit_tier", "pql_tier", "expected_value", *rules, "reasons", "contacts",
                                    "model_version"]
    # the demo's accounts have users: each scored account names whom to call (decision makers first)
    assert scores["contacts"].fillna("").str.len().gt(0).mean() > 0.5
    # the demo's conversions carry amounts: probability x predicted amount, never more than the biggest deal
    assert scores["expected_value"].ge(0).all() and (scores["expected_value"] <= scores["score"] * 1e6).all()
    assert scores["account_id"].is_unique and (scores["as_of"] == pd.Timestamp(AS_OF)).all()
    assert scores["score"].between(0, 1).all()
    assert scores["intent_score"].between(0, 1).all() and scores["fit_score"].between(0, 1).all()
    assert (scores["model_version"] == job.model_version).all()


def test_every_eligible_account_is_scored(served, trained):
    from features.config import DataConfig
    from features.data.load import load_tables
    from features.snapshots import eligible
    from features.windows import to_us

    tables, _ = load_tables(DataConfig.from_mapping(trained.config["data"]))
    rows = eligible(tables, to_us(AS_OF))
    assert sorted(served[0].scores["account_id"]) == sorted(tables.accounts["account_id"].iloc[rows])


def test_tiers_follow_their_thresholds(served):
    s = served[0].scores
    # tiers are thresholds on the scores: every higher tier scores at least as high as every lower one
    for score, order in (("intent_score", ["high", "medium", "low"]), ("fit_score", ["good", "medium", "poor"])):
        tier = "intent_tier" if score == "intent_score" else "fit_tier"
        present = [t for t in order if (s[tier] == t).any()]
        assert len(present) >= 2, (tier, present)
        for upper, lower in zip(present, present[1:]):
            assert s.loc[s[tier] == upper, score].min() >= s.loc[s[tier] == lower, score].max()
    high, good = s["intent_tier"] == "high", s["fit_tier"] == "good"
    expected = np.select([high & good, good & ~high, high & ~good], [1, 2, 3], 0)
    assert (s["pql_tier"].fillna(0).astype(int).to_numpy() == expected).all()


def test_rule_flags_and_reasons(served, trained):

    s = served[0].scores
    features = served[0].monitoring  # monitoring exists; features are rebuilt below for the rule check
    assert features.metrics["accounts_scored"] == len(s)
    rules = trained.job.result.scorer.rules
    assert rules.names  # the demo world brings its rules
    from features.build import build_features
    from features.config import DataConfig
    from features.data.load import load_tables

    tables, _ = load_tables(DataConfig.from_mapping(trained.config["data"]))
    frame = build_features(tables, [AS_OF], trained.job.result.spec)
    expected = rules.evaluate(frame).set_index(frame["account_id"]).loc[s["account_id"]]
    for column in expected.columns:
        assert (expected[column].to_numpy() == s[column].to_numpy()).all(), column
    top = s.sort_values("score").iloc[-1]
    assert top["reasons"] and len(top["reasons"].split("; ")) <= 3


def test_rerun_gives_identical_output(served, trained, tmp_path):
    again = tmp_path / "again.parquet"
    run_job(_config(trained, again))
    pd.testing.assert_frame_equal(pd.read_parquet(served[1]), pd.read_parquet(again))


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_database_outputs_replace_that_days_rows(trained, tmp_path, kind):
    output = str(tmp_path / "scores.duckdb") if kind == "duckdb" else f"sqlite:///{tmp_path}/scores.db"
    first = run_job(_config(trained, output)).scores
    run_job(_config(trained, output))  # the same day again: replaced, not appended
    run_job({**_config(trained, output), "as_of": "2024-12-09"})  # another day: kept beside it
    if kind == "duckdb":
        con = duckdb.connect(output)
        table = con.execute("SELECT * FROM pql_scores").df()
        con.close()
    else:
        table = pd.read_sql("SELECT * FROM pql_scores", sa.create_engine(output))
        table["as_of"] = pd.to_datetime(table["as_of"])
    day = table[table["as_of"] == pd.Timestamp(AS_OF)].sort_values("account_id").reset_index(drop=True)
    assert len(day) == len(first) and table["as_of"].nunique() == 2
    np.testing.assert_allclose(day["score"], first.sort_values("account_id")["score"], rtol=0, atol=0)


def test_a_crash_mid_write_leaves_yesterdays_file_intact(trained, served, tmp_path, monkeypatch):
    out = tmp_path / "scores.parquet"
    out.write_bytes(served[1].read_bytes())
    before = out.read_bytes()

    def crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        run_job({**_config(trained, out), "as_of": "2024-12-09"})
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]  # no temporary file left behind


def test_a_crash_mid_insert_rolls_the_database_back(trained, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/scores.db"
    first = run_job(_config(trained, url)).scores
    original = pd.DataFrame.to_sql

    def crash(self, name, con, *args, **kwargs):
        original(self.head(10), name, con, *args, **kwargs)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(pd.DataFrame, "to_sql", crash)
    with pytest.raises(RuntimeError, match="connection lost"):
        run_job(_config(trained, url))
    table = pd.read_sql("SELECT * FROM pql_scores", sa.create_engine(url))
    assert len(table) == len(first)


def test_missing_or_mistyped_feature_columns_are_clear_errors(trained):
    spec = trained.job.result.spec
    frame = trained.job.result.input_example.copy()
    with pytest.raises(DataError, match="events_count_30d"):
        trained.job.result.scorer.score(frame.drop(columns="events_count_30d"))
    with pytest.raises(DataError, match="should be numeric"):
        trained.job.result.scorer.score(frame.assign(events_count_30d="many"))
    assert "industry" in spec.categorical


def test_a_category_never_seen_in_training_is_scored(trained):
    frame = trained.job.result.input_example.copy()
    frame["industry"] = pd.Categorical(["space_mining"] * len(frame))
    out = trained.job.result.scorer.score(frame)
    assert out["score"].between(0, 1).all() and len(out) == len(frame)


def test_no_registered_model_says_to_train_first(tmp_path, trained):
    config = {**_config(trained, tmp_path / "s.parquet"), "tracking": {**trained.config["tracking"],
                                                                     "uri": f"sqlite:///{tmp_path}/empty.db"}}
    with pytest.raises(TrackingError, match="python -m train"):
        run_job(config)
    assert not (tmp_path / "s.parquet").exists()


def test_unreachable_tracking_server_is_a_clear_error(tmp_path, trained):
    config = {**_config(trained, tmp_path / "s.parquet"), "tracking": {**trained.config["tracking"],
                                                                     "uri": "http://127.0.0.1:9"}}
    with pytest.raises(TrackingError, match="unreachable"):
        run_job(config)


def test_exit_code_and_one_line_reason_for_a_scheduler(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serve", f"tracking.uri=sqlite:///{tmp_path}/none.db",
                          f"output={tmp_path}/s.parquet", f"hydra.run.dir={tmp_path}/run"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 4
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "python -m train" in errors[0]


def test_each_scoring_run_is_recorded_with_drift_and_tier_counts(served, trained):
    from train import tracking
    from train.config import TrackingConfig

    client = tracking.connect(TrackingConfig(uri=trained.uri)).MlflowClient()
    run = client.get_run(served[0].monitoring_run)
    assert run.data.metrics["accounts_scored"] == len(served[0].scores)
    assert {"pql_tier_1", "pql_tier_2", "pql_tier_3", "psi_score", "score_p50"} <= set(run.data.metrics)
    drift = served[0].monitoring.drift
    assert "score" in set(drift["feature"]) and drift["psi"].ge(0).all()


def test_no_drift_warning_fires_by_construction_on_the_day_after_training(served):
    # drift is judged against the newest snapshots training saw: account age alone is no drift
    drift = served[0].monitoring.drift.set_index("feature")
    assert drift.loc["days_since_signup", "psi"] < 0.2
    assert not any("tier 1" in w for w in served[0].monitoring.warnings)


def test_a_failed_scoring_run_is_recorded_as_failed_with_its_reason(trained, tmp_path):
    from train import tracking
    from train.config import TrackingConfig

    with pytest.raises(TrackingError):
        run_job(_config(trained, tmp_path / "s.parquet", model_uri="models:/pql-propensity/999"))
    mlflow = tracking.connect(TrackingConfig(uri=trained.uri))
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("pql-serve")
    failed = client.search_runs([experiment.experiment_id], "attributes.status = 'FAILED'")
    assert any("999" in r.data.tags.get("pql.error", "") and r.data.tags.get("pql.exit_code") == "4" for r in failed)
    assert not (tmp_path / "s.parquet").exists()
