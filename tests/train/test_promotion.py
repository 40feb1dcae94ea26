"""Promotion: compared on the same rows, refused across horizons, never by a sweep; the alias moves last."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from train.promotion import compare, incompatibility, unseen_rows

SMALL = ["data.demo.accounts=500", "data.demo.days=200", "data.demo.start=2024-01-01", "progress=false",
         "backtest.baseline=null"]


def test_incompatible_horizons_and_data_sources_are_named():
    assert "45 days" in incompatibility({"horizon_days": 30}, {"horizon_days": 45})
    assert "data source" in incompatibility({"horizon_days": 30, "data_fingerprint": "a"},
                                            {"horizon_days": 30, "data_fingerprint": "b"})
    same = {"horizon_days": 30, "data_fingerprint": "a"}
    assert incompatibility(same, dict(same)) is None


def test_both_models_are_measured_on_the_same_rows_the_champion_had_not_learned():
    rng = np.random.default_rng(0)
    as_of = np.repeat(pd.date_range("2024-06-03", periods=6, freq="7D"), 200)
    y = (rng.uniform(size=len(as_of)) < 0.1).astype(int)
    good, noise = np.clip(0.1 + 0.5 * y + rng.normal(0, 0.2, len(y)), 0.001, 0.999), rng.uniform(size=len(y))
    test = pd.DataFrame({"as_of": as_of, "label": y, "score": good})
    decision = compare(test, noise, "pr_auc", 50, "2024-05-27T00:00:00Z", 30)
    assert decision.promote and decision.challenger > decision.champion
    assert decision.rows == int(unseen_rows(test["as_of"], "2024-05-27T00:00:00Z", 30).sum()) < len(test)
    assert not compare(test.assign(score=noise), good, "pr_auc", 50, None, 30).promote


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from tests.conftest import compose_plain

    root = tmp_path_factory.mktemp("promotion")
    config = compose_plain("train", [*SMALL, f"tracking.uri=sqlite:///{root}/mlflow.db"])
    return root, config


def _aliases(config):
    from train import tracking
    from train.config import TrackingConfig

    client = tracking.connect(TrackingConfig(**config["tracking"])).MlflowClient()
    out = {}
    for alias in ("champion", "challenger"):
        try:
            out[alias] = str(client.get_model_version_by_alias("pql-propensity", alias).version)
        except Exception:
            out[alias] = None
    return out


def test_a_sweep_or_another_horizon_never_moves_the_champion(registry):
    from train.__main__ import run_job

    root, config = registry
    first = run_job(config, root / "a")
    assert first.summary["champion"] and _aliases(config)["champion"] == first.summary["model_version"]
    swept = run_job(config, root / "b", sweep=True)
    assert not swept.summary["champion"] and "--multirun" in swept.summary["promotion"]["reason"]
    assert _aliases(config) == {"champion": first.summary["model_version"],
                                "challenger": swept.summary["model_version"]}
    longer = run_job({**config, "label": {**config["label"], "horizon_days": 45}}, root / "c")
    assert not longer.summary["champion"] and "45" in longer.summary["promotion"]["reason"]
    assert _aliases(config)["champion"] == first.summary["model_version"]
    forced = run_job({**config, "label": {**config["label"], "horizon_days": 45},
                      "promotion": {**config["promotion"], "mode": "force"}}, root / "d")
    assert forced.summary["champion"] and _aliases(config)["champion"] == forced.summary["model_version"]


def test_a_retrain_on_the_same_data_is_judged_on_both_backtests_common_rows():
    from train.promotion import compare_backtests, has_unseen_rows

    rng = np.random.default_rng(1)
    as_of = np.repeat(pd.date_range("2024-06-03", periods=4, freq="7D"), 300)
    y = (rng.uniform(size=len(as_of)) < 0.1).astype(int)
    ids = np.tile([f"a{i}" for i in range(300)], 4)
    good = np.clip(0.1 + 0.5 * y + rng.normal(0, 0.2, len(y)), 0.001, 0.999)
    new = pd.DataFrame({"account_id": ids, "as_of": as_of, "label": y, "score": good})
    old = new.assign(score=rng.uniform(size=len(y))).iloc[300:]  # its backtest started a week later
    assert not has_unseen_rows(new["as_of"], "2024-07-01T00:00:00Z", 30)
    decision = compare_backtests(new, old, "pr_auc", 50)
    assert decision.promote and decision.rows == 900 and "out-of-time" in decision.reason
    assert not compare_backtests(new.assign(score=old["score"].reindex(new.index).fillna(0.5)), new, "pr_auc", 50).promote


def test_a_champion_comparison_carries_an_interval_over_the_accounts():
    import numpy as np
    import pandas as pd

    from train.promotion import compare, difference

    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.1).astype(int)
    test = pd.DataFrame({"account_id": np.arange(n) % 600, "as_of": np.repeat(pd.date_range("2024-06-03", periods=5,
                                                                                           freq="7D"), n // 5),
                         "label": y, "score": np.clip(0.1 + 0.3 * y + rng.normal(0, 0.1, n), 0.001, 0.999)})
    same = compare(test, test["score"].to_numpy(), "pr_auc", 50, None, 30)
    assert same.details["difference"] == 0 and "no measurable difference" in same.reason
    worse = np.clip(0.1 + rng.normal(0, 0.1, n), 0.001, 0.999)
    gap = difference("pr_auc", test["score"].to_numpy(), worse, y, test["as_of"].to_numpy(),
                     test["account_id"].to_numpy(), 50)
    assert gap["difference_low"] > 0 and gap["verdict"].endswith(")") and "better pr_auc" in gap["verdict"]
    lower = difference("log_loss", test["score"].to_numpy(), worse, y, test["as_of"].to_numpy(),
                       test["account_id"].to_numpy(), 50)
    assert lower["difference"] < 0 and "better log_loss" in lower["verdict"]  # lower log loss is better
