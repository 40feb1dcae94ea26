"""Splitting snapshots by time: train (with a validation tail) | calibration | test, never random.

Purge: a label at ``t`` looks at ``[t, t + horizon)``; a snapshot is dropped from a period when
that interval reaches into the start of the next period, so no label of an earlier period has
seen the later one.

>>> import pandas as pd
>>> weeks = list(pd.date_range("2024-01-01", periods=20, freq="7D"))
>>> s = split_snapshots(weeks, SplitConfig(test_snapshots=2, calibration_snapshots=3), horizon_days=14)
>>> [len(p) for p in (s.fit, s.validation, s.calibration, s.test)], len(s.purged)
([10, 3, 2, 2], 3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from features.errors import ConfigError

from .settings import SplitConfig


@dataclass(frozen=True)
class Split:
    """As-of instants per period (each sorted); ``purged`` were dropped at a period boundary."""

    fit: list[pd.Timestamp]
    validation: list[pd.Timestamp]
    calibration: list[pd.Timestamp]
    test: list[pd.Timestamp]
    purged: list[pd.Timestamp] = field(default_factory=list)

    @property
    def train(self) -> list[pd.Timestamp]:
        return self.fit + self.validation

    def bounds(self) -> dict[str, list[str]]:
        """First and last as-of of train, calibration and test, ISO-8601 UTC (for summary.json)."""
        iso = lambda t: pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        return {name: [iso(p[0]), iso(p[-1])] for name, p in
                (("train", self.train), ("calibration", self.calibration), ("test", self.test)) if p}


def _purge(before: list[pd.Timestamp], next_start: pd.Timestamp, horizon: pd.Timedelta, on: bool):
    """Split ``before`` into (kept, purged): kept snapshots' label horizons end by ``next_start``."""
    if not on:
        return before, []
    kept = [t for t in before if t + horizon <= next_start]
    return kept, [t for t in before if t + horizon > next_start]


def split_snapshots(as_of: Sequence[pd.Timestamp], config: SplitConfig, horizon_days: int) -> Split:
    """Periods by as-of date: the newest ``test_snapshots`` test, the ``calibration_snapshots``
    before them calibrate, the rest train (its newest ``validation_fraction`` for early stopping)."""
    times = sorted(pd.Timestamp(t) for t in as_of)
    horizon = pd.Timedelta(days=horizon_days)
    n_test, n_cal = config.test_snapshots, config.calibration_snapshots
    if n_test < 1 or n_cal < 1:
        raise ConfigError("split.test_snapshots and split.calibration_snapshots must be at least 1")
    if len(times) < n_test + n_cal + 2:
        raise ConfigError(f"only {len(times)} labelled snapshots: need at least {n_test + n_cal + 2} "
                          f"(split.test_snapshots={n_test}, split.calibration_snapshots={n_cal}, 2 to train); "
                          f"use more data, a shorter snapshots.every_days or fewer test/calibration snapshots")
    test = times[-n_test:]
    calibration, purged_cal = _purge(times[-n_test - n_cal:-n_test], test[0], horizon, config.purge)
    train, purged_train = _purge(times[:-n_test - n_cal], times[-n_test - n_cal], horizon, config.purge)
    n_val = max(1, math.ceil(len(train) * config.validation_fraction)) if len(train) >= 2 else 0
    fit, validation = train[:len(train) - n_val], train[len(train) - n_val:]
    fit, purged_fit = _purge(fit, validation[0], horizon, config.purge) if validation else (fit, [])
    if not calibration or not fit or not validation:
        raise ConfigError(f"after purging label horizons ({horizon_days} days) a period is empty "
                          f"(fit {len(fit)}, validation {len(validation)}, calibration {len(calibration)}): "
                          f"use more snapshots (more data or a denser grid) or fewer test/calibration snapshots")
    return Split(fit, validation, calibration, test, sorted(purged_fit + purged_train + purged_cal))
