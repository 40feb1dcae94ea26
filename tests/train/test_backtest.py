"""Down-sampled negatives (``backtest.negative_share``): every converter kept, weights restore the balance,
and a model trained on the weighted sample stays calibrated."""
from __future__ import annotations

import numpy as np
import pytest

from features.errors import ConfigError
from train.backtest import negative_sample
from train.config import BacktestConfig


def test_all_converters_and_a_share_of_the_others_weighted_back():
    rng = np.random.default_rng(1)
    y = (rng.random(200_000) < 0.02).astype(int)
    rows = np.ones(len(y), bool)
    kept, weight = negative_sample(rows, y, 0.1)
    assert kept[y == 1].all()
    assert 0.09 < kept[y == 0].mean() < 0.11
    assert set(np.unique(weight)) == {1.0, 10.0}
    # the weighted sample has the full table's class balance (to sampling noise)
    assert weight[y[kept] == 1].sum() / weight.sum() == pytest.approx(y.mean(), rel=0.05)


def test_share_one_changes_nothing_and_the_sample_is_a_subset_of_the_rows():
    y = np.array([0, 1, 0, 0, 1, 0])
    rows = np.array([True, True, False, True, False, True])
    assert negative_sample(rows, y, 1.0) == (rows, None)
    kept, _ = negative_sample(rows, y, 0.5)
    assert not (kept & ~rows).any() and kept[1]


@pytest.mark.parametrize("share", [0, -0.1, 1.5, "half", "0.5", True, None, [0.5]])
def test_a_share_outside_zero_one_is_a_config_error(share):
    with pytest.raises(ConfigError, match="backtest.negative_share"):
        BacktestConfig(negative_share=share)


@pytest.mark.parametrize("cap", [999, 2.5e5, "many", True])
def test_max_negatives_must_be_a_whole_number_of_at_least_1000(cap):
    with pytest.raises(ConfigError, match="backtest.max_negatives"):
        BacktestConfig(max_negatives=cap)


def test_auto_keeps_every_row_up_to_max_negatives_and_samples_that_many_above():
    auto = BacktestConfig(negative_share="auto", max_negatives=10_000)
    assert auto.share_for(0) == auto.share_for(10_000) == 1.0
    assert auto.share_for(40_000) == 0.25
    # a number is taken as given, whatever the table's size
    assert BacktestConfig(negative_share=0.5).share_for(10) == 0.5
    y = (np.random.default_rng(3).random(50_000) < 0.05).astype(int)
    kept, _ = negative_sample(np.ones(len(y), bool), y, auto.share_for(int((y == 0).sum())))
    assert abs(kept[y == 0].sum() - 10_000) < 400 and kept[y == 1].all()


def test_a_run_past_max_negatives_learns_from_a_sample_stays_calibrated_and_says_so(tmp_path):
    from omegaconf import OmegaConf

    from app.paths import CONF_DIR
    from features.data.load import load_tables
    from app.preflight import compose_config
    from train.settings import settings_for
    from train.pipeline import run_training

    overrides = ["data.demo.accounts=600", "data.demo.days=240", "data.demo.start=2024-01-01", "progress=false",
                 "backtest.max_negatives=1000", "backtest.baseline=null", "learned.enabled=false"]
    config = OmegaConf.to_container(compose_config("train", overrides), resolve=True)
    settings, data, _ = settings_for(config, CONF_DIR)
    result = run_training(load_tables(data)[0], settings)
    assert result.counts["n_train_sampled"] < result.counts["n_train"] * 0.3
    assert any("each model learns from at most backtest.max_negatives=1,000" in note for note in result.notes)
    # mean of the uncalibrated (weighted-model) probabilities near the base rate: the weights kept it calibrated
    test = result.test
    assert test["uncalibrated"].mean() == pytest.approx(test["label"].mean(), rel=0.5)
    assert result.metrics["roc_auc"] > 0.65


def test_each_model_samples_by_its_own_rows_so_a_fold_samples_as_production_would_have_on_its_date():
    from dataclasses import replace

    import pandas as pd

    from train.backtest import sampled
    from train.design import Design
    from train.settings import TrainSettings

    rng = np.random.default_rng(5)
    y = (rng.random(40_000) < 0.05).astype(int)
    design = Design(pd.DataFrame({"x": np.zeros(len(y))}), y, np.zeros(len(y), "datetime64[us]"), [])
    settings = TrainSettings.from_mapping({})
    settings = replace(settings, backtest=replace(settings.backtest, negative_share="auto", max_negatives=10_000))
    old = np.arange(len(y)) < 8_000          # an early fold: fewer non-converters than the cap, kept whole
    rows, weight = sampled(design, old, settings)
    assert np.array_equal(rows, old) and weight is None
    everything = np.ones(len(y), bool)        # production: ~38,000 non-converters, a sample of ~10,000
    rows, weight = sampled(design, everything, settings)
    assert abs(int((rows & (y == 0)).sum()) - 10_000) < 400 and rows[y == 1].all()
    assert weight.max() == pytest.approx((y == 0).sum() / 10_000)
    middle = np.arange(len(y)) < 20_000       # a later fold: its own share; its sample lies inside a larger one's
    mid_rows, _ = sampled(design, middle, settings)
    assert abs(int((mid_rows & (y == 0)).sum()) - 10_000) < 400
    assert not (rows & middle & ~mid_rows).any()
