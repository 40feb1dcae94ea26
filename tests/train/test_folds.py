"""Rolling-origin folds: sizes follow the data, every fold learns only from matured labels."""
from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from train.folds import plan_folds
from train.config import BacktestConfig


def weeks(n: int) -> list[pd.Timestamp]:
    return list(pd.date_range("2024-01-01", periods=n, freq="7D"))


@pytest.mark.parametrize("n,horizon", [(15, 30), (18, 30), (50, 30), (22, 14), (80, 60), (9, 7)])
def test_each_fold_learns_only_from_labels_matured_before_it(n, horizon):
    plan = plan_folds(weeks(n), BacktestConfig(), horizon)
    assert 1 <= len(plan.folds) <= 4
    tested = [t for f in plan.folds for t in f.test]
    assert tested == weeks(n)[-len(tested):]  # the newest snapshots, each tested once
    for fold in plan.folds:
        assert len(fold.train) >= BacktestConfig().min_train_snapshots
        assert max(fold.train) + pd.Timedelta(days=horizon) <= fold.test[0]
    assert plan.final_train == weeks(n)  # production learns from every labelled snapshot


def test_a_twenty_week_log_backtests_at_a_thirty_day_horizon():
    # 20 weeks of data: ~15 labelled weekly snapshots at a 30-day horizon
    plan = plan_folds(weeks(15), BacktestConfig(), 30)
    assert len(plan.folds) >= 3


def test_sizes_follow_the_length_of_the_data():
    short, long = plan_folds(weeks(15), BacktestConfig(), 30), plan_folds(weeks(60), BacktestConfig(), 30)
    assert len(short.test) < len(long.test)
    assert len(long.test) == round(60 * BacktestConfig().test_share)


def test_too_short_a_log_says_what_to_change():
    with pytest.raises(ConfigError, match="label.horizon_days"):
        plan_folds(weeks(6), BacktestConfig(), 30)
