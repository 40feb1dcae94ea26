"""The data health report: left-censored labels, stale pools, constant columns."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import SnapshotConfig
from features.data.load import load_frames
from features.snapshots import first_looks
from features.windows import to_us
from train import health


def _tables(first_conversion: str):
    created = pd.date_range("2024-01-01", periods=40, freq="3D").as_unit("us")
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(40)], "created_at": created})
    events = pd.DataFrame({"account_id": accounts["account_id"], "event": "x", "timestamp": created + pd.Timedelta("1h")})
    first = pd.Timestamp(first_conversion)
    conversions = pd.DataFrame({"account_id": ["a1", "a2"], "converted_at": [first, first + pd.Timedelta("30D")]})
    return load_frames({"accounts": accounts, "events": events, "conversions": conversions,
                        "touches": None})[0]


def test_snapshots_before_conversions_are_recorded_are_left_censored():
    tables = _tables("2024-04-01")
    snaps = list(pd.date_range("2024-01-08", "2024-05-06", freq="7D").as_unit("us"))
    censored = health.left_censored(tables, snaps, 30)
    assert censored == [t for t in snaps if t < pd.Timestamp("2024-04-01")]


def test_a_natural_first_conversion_is_not_censoring():
    tables = _tables("2024-01-20")  # within one horizon of the first snapshot: nothing to exclude
    snaps = list(pd.date_range("2024-01-08", "2024-03-04", freq="7D").as_unit("us"))
    assert health.left_censored(tables, snaps, 30) == []


def test_snapshot_table_counts_eligible_positives_stale_and_fresh():
    frame = pd.DataFrame({"as_of": np.repeat(pd.to_datetime(["2024-03-04", "2024-03-11"]), 3),
                          "days_since_last_event": [1.0, 100.0, np.nan, 2.0, 120.0, np.nan],
                          "days_since_signup": [10.0, 200.0, 3.0, 17.0, 207.0, 100.0]})
    table = health.snapshot_table(frame, np.array([1, 0, 0, 0, 0, 1]), np.array([True] * 3 + [False] * 3), 7, 90)
    first, second = table.iloc[0], table.iloc[1]
    assert first["eligible"] == 3 and first["positives"] == 1 and first["fresh"] == 1
    assert abs(first["stale_share"] - 1 / 3) < 1e-9 and abs(second["stale_share"] - 2 / 3) < 1e-9
    assert pd.isna(second["positives"])  # not labelled yet: positives unknown, not zero


def test_constant_columns():
    X = pd.DataFrame({"a": [1, 1, 1], "b": [1, 2, 3], "c": [np.nan] * 3})
    assert health.constant_columns(X) == ["a", "c"]


def test_conversions_before_the_first_snapshot_are_counted_and_warned():
    created = pd.date_range("2024-01-01", periods=60, freq="1D").as_unit("us")
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(60)], "created_at": created})
    events = pd.DataFrame({"account_id": accounts["account_id"], "event": "x", "timestamp": created + pd.Timedelta("1h")})
    # the first ten pay two hours after signing up (no weekly look in between); two more after three weeks
    buyers = accounts["account_id"][:10].tolist() + ["a30", "a31"]
    when = list(created[:10] + pd.Timedelta("2h")) + [created[30] + pd.Timedelta("21D"), created[31] + pd.Timedelta("21D")]
    conversions = pd.DataFrame({"account_id": buyers, "converted_at": when})
    tables = load_frames({"accounts": accounts, "events": events, "conversions": conversions, "touches": None})[0]
    grid = list(pd.date_range("2023-12-25", "2024-03-25", freq="7D"))
    unseen = health.unseen_conversions(tables, grid)
    assert unseen["conversions"] == 12 and unseen["unseen"] == 10
    assert unseen["median_days_unseen"] == pytest.approx(2 / 24)
    (warning,) = health.unseen_warning(unseen, SnapshotConfig(first_look=False))
    assert "83% of the 12 conversions" in warning and "snapshots.first_look=true" in warning
    assert health.unseen_warning({**unseen, "share": 0.05}, SnapshotConfig(first_look=False)) == []
    # with first looks the ten still convert before their first midnight: the warning names no setting
    (warning,) = health.unseen_warning(unseen, SnapshotConfig())
    assert "buy before their first midnight" in warning and "snapshots.first_look" not in warning


def test_first_looks_see_the_accounts_that_convert_in_their_first_days():
    created = pd.date_range("2024-01-01 09:00", periods=60, freq="1D").as_unit("us")
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(60)], "created_at": created})
    events = pd.DataFrame({"account_id": accounts["account_id"], "event": "x", "timestamp": created + pd.Timedelta("1h")})
    # ten pay a day and a half after signing up: after their first midnight, mostly before the next weekly look
    conversions = pd.DataFrame({"account_id": accounts["account_id"][20:30], "converted_at": created[20:30] + pd.Timedelta("36h")})
    tables = load_frames({"accounts": accounts, "events": events, "conversions": conversions, "touches": None})[0]
    grid = list(pd.date_range("2024-01-01", "2024-03-25", freq="7D"))
    weekly = health.unseen_conversions(tables, grid)
    looks = first_looks(tables, grid, SnapshotConfig(), to_us("2024-06-01"), 30)
    assert weekly["unseen"] >= 7  # only those created the day before a weekly look are seen
    assert health.unseen_conversions(tables, grid, looks)["unseen"] == 0


def test_a_backtest_without_young_accounts_names_the_last_sign_up_and_the_setting():
    tables = _tables("2024-02-01")
    folds = [{"fold": 1, "test": ["2024-09-02T00:00:00", "2024-09-16T00:00:00"], "young_accounts": 0, "reported": False},
             {"fold": 2, "test": ["2024-09-23T00:00:00", "2024-10-07T00:00:00"], "young_accounts": 0}]
    (warning,) = health.stopped_signups(tables, folds, (7, 30, 90))
    last = pd.Timestamp(tables.created_us.max(), unit="us")
    assert f"the last on {last:%Y-%m-%d}" in warning and "snapshots.last=" in warning
    assert "2024-09-23 .. 2024-10-07" in warning and "younger than 90 days" in warning
    assert health.stopped_signups(tables, [{**folds[1], "young_accounts": 3}], (7, 30, 90)) == []
