"""What the backtest measured (train.measures): the tier table, the spread over folds and the learned list's
figures, hand-computed."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from train.evaluate import rate_interval
from train.measures import FOLD_METRICS, fold_spread, learned_metrics, tier_table


def test_tier_table_by_hand():
    test = pd.DataFrame({"pql_tier": pd.array([1, 1, 1, 2, None, None], dtype="Int64"), "label": [1, 1, 0, 0, 1, 0]})
    table = tier_table(test, n_snapshots=2).set_index("pql_tier")
    assert list(table.index) == ["1", "2", "none"]
    assert table["accounts"].tolist() == [3, 1, 2] and table["converted"].tolist() == [2, 0, 1]
    assert table["per_snapshot"].tolist() == [1.5, 0.5, 1.0]
    assert table.loc["1", "conversion_rate"] == pytest.approx(2 / 3)
    assert (table.loc["1", "rate_low"], table.loc["1", "rate_high"]) == pytest.approx(rate_interval(2, 3))
    assert tier_table(test, n_snapshots=0)["per_snapshot"].tolist() == [3, 1, 2]  # no division by zero
    assert test["pql_tier"].isna().sum() == 2  # the input keeps its missing tiers


def test_fold_spread_is_mean_and_std_ignoring_missing_values():
    folds = [{name: 1.0 for name in FOLD_METRICS}, {name: 3.0 for name in FOLD_METRICS},
             {**{name: 2.0 for name in FOLD_METRICS}, "roc_auc": np.nan}]  # a fold without positives
    spread = fold_spread(folds)
    assert set(spread) == {f"{m}_fold_{s}" for m in FOLD_METRICS for s in ("mean", "std")}
    assert spread["pr_auc_fold_mean"] == 2.0 and spread["pr_auc_fold_std"] == pytest.approx(math.sqrt(2 / 3))
    assert spread["roc_auc_fold_mean"] == 2.0 and spread["roc_auc_fold_std"] == 1.0


def test_learned_metrics_read_the_last_row_of_the_comparison():
    comparison = pd.DataFrame({"name": ["active_team", "learned"], "precision": [0.1, 0.3],
                               "model_precision": [0.2, 0.4], "flagged": [50, 60]})
    assert learned_metrics(comparison, n_test_snapshots=4, n_rules=3) == {
        "learned_precision": 0.3, "learned_model_precision": 0.4, "learned_per_snapshot": 15.0, "learned_rules": 3}
    assert learned_metrics(comparison, 0, 1)["learned_per_snapshot"] == 60.0
