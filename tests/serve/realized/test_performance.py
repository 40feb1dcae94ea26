"""python -m serve.realized: past scores joined with the conversions since, against the backtest's promise."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serve.realized import judge, realized_labels, run_realized

T = pd.Timestamp


def _scores(day: str, n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(n)], "as_of": T(day),
                         "score": np.linspace(0.9, 0.1, n), "pql_tier": pd.array([1, 1, 2, None][:n], dtype="Int64"),
                         "rule_busy": [True, False, True, False][:n], "model_version": "3"})


def test_labels_count_conversions_within_the_horizon_of_matured_days_only():
    scores = pd.concat([_scores("2024-01-01"), _scores("2024-02-20")], ignore_index=True)
    conversions = pd.DataFrame({"account_id": ["a0", "a1", "a2"],
                                "converted_at": [T("2024-01-01"), T("2024-01-31"), T("2023-12-01")]})
    out = realized_labels(scores, conversions, 30, T("2024-03-01"))
    assert set(out["as_of"]) == {T("2024-01-01")}  # 2024-02-20 + 30 days is after the data end
    assert out["label"].tolist() == [1, 0, 0, 0]  # a1 converted on day 30: outside [t, t + 30); a2 before t


def test_judge_sets_realized_rates_beside_the_promised_ones():
    realized = _scores("2024-01-01").assign(label=[1, 0, 1, 0])
    promised = _scores("2023-10-02").assign(label=[1, 1, 0, 0], log_odds=[3.0, 2.0, 1.0, 0.0])
    table = judge(realized, promised, capacity=1).set_index(["group", "name"])
    assert table.loc[("tier", "1"), ["accounts", "converted", "rate", "promised_rate"]].tolist() == [2, 1, 0.5, 1.0]
    assert table.loc[("tier", "none"), "accounts"] == 1
    assert table.loc[("definition", "busy"), ["rate", "promised_rate"]].tolist() == [1.0, 0.5]
    assert table.loc[("model", "top 1 per scoring day"), ["rate", "promised_rate"]].tolist() == [1.0, 1.0]
    assert table.loc[("all", "every account scored"), "rate"] == 0.5
    low, high = table.loc[("tier", "1"), ["rate_low", "rate_high"]]
    assert 0 < low < 0.5 < high < 1
    assert table.loc[("definition", "busy"), "within"] == bool(
        table.loc[("definition", "busy"), "promised_low"] <= 1.0 <= table.loc[("definition", "busy"), "promised_high"])


def _unversioned_config(tmp_path: Path) -> dict:
    """serve.realized on a tiny CSV source (account a0 converts) and one matured night without model_version."""
    from omegaconf import OmegaConf

    from app.preflight import compose_config

    source = tmp_path / "source"
    source.mkdir()
    ids = [f"a{i}" for i in range(4)]
    pd.DataFrame({"account_id": ids, "created_at": "2023-12-01"}).to_csv(source / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ids, "event": "task", "timestamp": "2024-03-01"}).to_csv(source / "events.csv",
                                                                                       index=False)
    pd.DataFrame({"account_id": ["a0"], "converted_at": "2024-01-10"}).to_csv(source / "conversions.csv", index=False)
    (tmp_path / "scores").mkdir()
    _scores("2024-01-01").drop(columns="model_version").to_parquet(tmp_path / "scores" / "scores_2024-01-01.parquet")
    overrides = [f"data.dir={source}", f"scores_dir={tmp_path / 'scores'}", "horizon_days=30", "capacity_per_week=1",
                 f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    return OmegaConf.to_container(compose_config("realized", overrides), resolve=True)


def test_scores_without_a_model_version_are_logged_under_plain_names(tmp_path):
    import mlflow

    table, run_id = run_realized(_unversioned_config(tmp_path), tmp_path / "run")
    assert table["model_version"].unique().tolist() == ["?"]
    metrics = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id).data.metrics
    assert metrics["realized_all_every_account_scored_rate"] == 0.25
    assert (tmp_path / "run" / "realized.csv").exists()


def test_a_run_that_cannot_be_logged_leaves_no_realized_csv(tmp_path, monkeypatch):
    from train import tracking

    def refuse(*args, **kwargs):
        raise OSError("the tracking store is read-only")

    monkeypatch.setattr(tracking, "log_realized", refuse)
    with pytest.raises(OSError, match="read-only"):
        run_realized(_unversioned_config(tmp_path), tmp_path / "run")
    assert not list((tmp_path / "run").glob("*realized*"))


# -- end to end on the session's trained model: two nights of the batch job, one of them matured ------------

DAYS = ("2024-11-04", "2024-12-16")  # the demo world ends on 2024-12-31: only the first has a known outcome


@pytest.fixture(scope="module")
def nights(trained, tmp_path_factory):
    from serve.job import run_job

    folder = tmp_path_factory.mktemp("nightly")
    for day in DAYS:
        overrides = [*trained.demo, f"tracking.uri={trained.uri}", f"as_of={day}", f"output_dir={folder}",
                     "progress=false", "alerts.warm_days=0"]  # only the nights of DAYS, not the demo's warm-up
        run_job(trained.compose("serve", overrides))
    return folder


def _realized_config(trained, folder):
    return trained.compose("realized", [*trained.demo, f"tracking.uri={trained.uri}", f"scores_dir={folder}"])


def test_realized_performance_of_the_batch_jobs_scores(trained, nights, tmp_path):
    import mlflow

    from features.config import DataConfig
    from features.data.load import load_tables
    from features.tables import NEVER

    table, run_id = run_realized(_realized_config(trained, nights), tmp_path)
    assert (tmp_path / "realized.csv").exists()
    assert table["days"].unique().tolist() == [1] and table["horizon_days"].unique().tolist() == [30]
    # hand-computed from the scores file and the demo's conversions
    scores = pd.read_parquet(nights / f"scores_{DAYS[0]}.parquet")
    tables, _ = load_tables(DataConfig.from_mapping(trained.config["data"]))
    converted = pd.Series(tables.converted_us, index=tables.accounts["account_id"].astype(str))
    start = T(DAYS[0]).value // 1000
    won = scores["account_id"].map(converted).pipe(lambda c: (c >= start) & (c < start + 30 * 86_400_000_000)
                                                   & (c != NEVER))
    tier1 = (pd.to_numeric(scores["pql_tier"]) == 1).fillna(False).to_numpy(bool)
    row = table.set_index(["group", "name"]).loc[("tier", "1")]
    assert row["accounts"] == tier1.sum() and row["converted"] == won[tier1].sum()
    # the promise is the model version's own backtest: tier 1 converts at its backtest rate
    test = trained.job.result.test
    promised = test.loc[(pd.to_numeric(test["pql_tier"]) == 1).fillna(False).to_numpy(bool), "label"].mean()
    assert row["promised_rate"] == pytest.approx(promised)
    assert {"definition"} <= set(table["group"]) and table["promised_rate"].notna().all()
    run = mlflow.MlflowClient(trained.uri).get_run(run_id)
    assert run.data.tags["pql.kind"] == "realized"
    version = table["model_version"].iloc[0]
    assert run.data.metrics[f"v{version}_realized_tier_1_rate"] == pytest.approx(row["rate"])


def test_the_command_line(trained, nights, tmp_path):
    overrides = [*trained.demo, f"tracking.uri={trained.uri}", f"scores_dir={nights}", f"hydra.run.dir={tmp_path}"]
    done = subprocess.run([sys.executable, "-m", "serve.realized", *overrides], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "realized.csv")) >= 5
    missing = subprocess.run([sys.executable, "-m", "serve.realized", f"hydra.run.dir={tmp_path}/bad"],
                             capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    last = missing.stderr.strip().splitlines()[-1]
    assert missing.returncode == 2 and last.startswith("error: scores:") and "scores_dir=FOLDER" in last
