"""The rolling-origin backtest's folds: sizes follow the data, never random.

The newest labelled snapshots are split into consecutive test folds. Each fold's model trains
only on snapshots whose label horizon had ended by the fold's first as-of (``t + horizon <=
fold start``), as it would have in production; the production model then trains on every
labelled snapshot.

>>> import pandas as pd
>>> weeks = list(pd.date_range("2024-01-01", periods=15, freq="7D"))
>>> plan = plan_folds(weeks, BacktestConfig(), horizon_days=30)
>>> [(len(f.train), len(f.test)) for f in plan.folds]
[(7, 1), (8, 1), (9, 1), (10, 1)]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from features.errors import ConfigError

from train.config import BacktestConfig


def iso(t: pd.Timestamp) -> str:
    """An instant as ISO-8601 UTC text (``2024-06-03T00:00:00Z``)."""
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Fold:
    """One test period and the matured snapshots its model may learn from."""

    index: int
    train: list[pd.Timestamp]
    test: list[pd.Timestamp]

    def bounds(self) -> dict[str, list[str]]:
        """First and last as-of of the fold's training and test snapshots (ISO-8601 UTC)."""
        return {"train": [iso(self.train[0]), iso(self.train[-1])], "test": [iso(self.test[0]), iso(self.test[-1])]}


@dataclass(frozen=True)
class FoldPlan:
    """The folds, and the snapshots the production model trains on (all labelled ones)."""

    folds: list[Fold]
    final_train: list[pd.Timestamp]

    @property
    def test(self) -> list[pd.Timestamp]:
        """Every fold's test snapshots, oldest first."""
        return [t for f in self.folds for t in f.test]

    def bounds(self) -> dict[str, list[str]]:
        """First and last as-of of the production model's training and of the pooled test folds (ISO-8601 UTC).

        There is no separate calibration period: calibration is cross-fitted on the folds' predictions.
        """
        return {"train": [iso(self.final_train[0]), iso(self.final_train[-1])],
                "first_fold_train": [iso(self.folds[0].train[0]), iso(self.folds[0].train[-1])],
                "test": [iso(self.test[0]), iso(self.test[-1])]}


def _matured(times: list[pd.Timestamp], start: pd.Timestamp, horizon: pd.Timedelta) -> list[pd.Timestamp]:
    return [t for t in times if t + horizon <= start]


def plan_folds(labelled: Sequence[pd.Timestamp], config: BacktestConfig, horizon_days: int) -> FoldPlan:
    """Folds over the newest ``test_share`` of the labelled snapshots (at most ``folds`` of them),
    shrunk until the oldest fold still has ``min_train_snapshots`` matured snapshots to learn from. (A first
    look in a matured snapshot's window whose own label had not matured is left out by ``Design.rows``.)"""
    times = sorted(pd.Timestamp(t) for t in labelled)
    horizon = pd.Timedelta(days=horizon_days)
    n = len(times)
    if config.folds < 1 or config.min_train_snapshots < 1 or not 0 < config.test_share < 1:
        raise ConfigError("backtest.folds and backtest.min_train_snapshots must be >= 1 and backtest.test_share "
                          "between 0 and 1")
    n_test = min(max(1, round(n * config.test_share)), n)
    while n_test >= 1 and len(_matured(times, times[n - n_test], horizon)) < config.min_train_snapshots:
        n_test -= 1
    if n_test < 1:
        best = len(_matured(times, times[-1], horizon)) if times else 0
        raise ConfigError(
            f"only {n} labelled snapshots at a {horizon_days}-day horizon: a test fold would learn from "
            f"{best} matured snapshots (backtest.min_train_snapshots={config.min_train_snapshots}); use more data, "
            f"a shorter label.horizon_days, a denser grid (snapshots.every_days) or a smaller backtest.min_train_snapshots")
    tests = times[n - n_test:]
    n_folds = min(config.folds, n_test)
    size, extra = divmod(n_test, n_folds)
    folds, at = [], 0
    for k in range(n_folds):
        chunk = tests[at: at + size + (1 if k < extra else 0)]
        at += len(chunk)
        folds.append(Fold(k + 1, _matured(times, chunk[0], horizon), chunk))
    return FoldPlan(folds, times)


@dataclass(frozen=True)
class Snapshots:
    """The as-of grid of a run: every as-of, those labelled, those left out (censored), the folds."""

    times: list[pd.Timestamp]      # every as-of of the grid, oldest first (labelled or not)
    labelled: list[pd.Timestamp]   # those whose label horizon is over
    censored: list[pd.Timestamp]   # labelled ones before conversions are recorded (left out of training)
    end_us: int                    # the instant the data ends (exclusive)
    plan: FoldPlan
    looks: dict[pd.Timestamp, pd.Timestamp] = field(default_factory=dict)  # first look -> its grid snapshot
