"""Splits by time with purged label horizons; never random."""
from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from train.settings import SplitConfig
from train.split import split_snapshots

WEEKS = list(pd.date_range("2024-01-01", periods=30, freq="7D"))


def test_periods_are_ordered_in_time_and_test_is_newest():
    s = split_snapshots(WEEKS[::-1], SplitConfig(test_snapshots=4, calibration_snapshots=8), horizon_days=30)
    assert s.test == WEEKS[-4:]
    assert max(s.fit) < min(s.validation) <= max(s.validation) < min(s.calibration)
    assert max(s.calibration) < min(s.test)


def test_no_label_looks_past_the_start_of_the_next_period():
    horizon = pd.Timedelta(days=30)
    s = split_snapshots(WEEKS, SplitConfig(test_snapshots=4, calibration_snapshots=8), horizon_days=30)
    assert all(t + horizon <= s.validation[0] for t in s.fit)
    assert all(t + horizon <= s.calibration[0] for t in s.train)
    assert all(t + horizon <= s.test[0] for t in s.calibration)
    # exactly the snapshots within a horizon of a boundary were purged: 4 weekly snapshots per boundary
    assert len(s.purged) == 12 and not set(s.purged) & set(s.fit + s.validation + s.calibration + s.test)


def test_purge_can_be_turned_off():
    s = split_snapshots(WEEKS, SplitConfig(test_snapshots=4, calibration_snapshots=8, purge=False), horizon_days=30)
    assert not s.purged and len(s.fit + s.validation + s.calibration + s.test) == len(WEEKS)


def test_bounds_are_iso_utc():
    s = split_snapshots(WEEKS, SplitConfig(test_snapshots=4, calibration_snapshots=8), horizon_days=30)
    assert s.bounds()["test"] == ["2024-07-01T00:00:00Z", "2024-07-22T00:00:00Z"]


@pytest.mark.parametrize("n", [5, 14])
def test_too_few_snapshots_is_a_clear_error(n):
    with pytest.raises(ConfigError, match="snapshots"):
        split_snapshots(WEEKS[:n], SplitConfig(test_snapshots=4, calibration_snapshots=8), horizon_days=30)
