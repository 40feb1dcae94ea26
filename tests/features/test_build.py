"""Building features and training tables (features.build): hand-computed boundaries of the contract's time
semantics (section 2) -- half-open windows, eligibility and labels at the instant, day buckets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features, build_training_table
from features.plan import plan_features
from features.config import FeatureConfig
from features.data.load import load_frames

T = pd.Timestamp("2024-03-01").as_unit("us")
SECOND = pd.Timedelta(seconds=1)
DAY = pd.Timedelta(days=1)


def _tables(events: list[tuple[str, str, pd.Timestamp]], conversions=(), make=None):
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [T - 100 * DAY, T - 100 * DAY]})
    ev = pd.DataFrame(events, columns=["account_id", "event", "timestamp"])
    ev["timestamp"] = ev["timestamp"].astype("datetime64[us]")
    conv = pd.DataFrame(list(conversions), columns=["account_id", "converted_at"])
    conv["converted_at"] = conv["converted_at"].astype("datetime64[us]")
    tables, _ = load_frames({"accounts": accounts, "events": ev, "conversions": conv})
    return tables


def _row(tables, account="a", as_of=T, **config):
    spec = plan_features(tables, as_of, FeatureConfig(**config))
    frame = build_features(tables, [as_of], spec)
    return frame.set_index("account_id").loc[account]


def test_event_exactly_at_t_is_not_a_feature():
    tables = _tables([("a", "task", T), ("b", "task", T - DAY)])
    row = _row(tables)
    assert row["task_count_7d"] == 0 and row["task_count_all"] == 0 and row["events_count_all"] == 0
    assert np.isnan(row["days_since_last_event"])


def test_event_one_microsecond_before_t_is_in_every_window():
    tables = _tables([("a", "task", T - pd.Timedelta(microseconds=1))])
    row = _row(tables)
    assert (row["task_count_7d"], row["task_count_30d"], row["task_count_all"]) == (1, 1, 1)
    assert row["days_since_last_event"] == 0  # active in the last 24 hours


@pytest.mark.parametrize("offset, in7, in30, in90", [
    (30 * DAY, 0, 1, 1),               # exactly t - 30 days: inside [t - 30d, t)
    (30 * DAY + SECOND, 0, 0, 1),      # a second earlier: outside the 30-day window
    (7 * DAY, 1, 1, 1),
    (7 * DAY + SECOND, 0, 1, 1),
    (90 * DAY, 0, 0, 1),
    (90 * DAY + SECOND, 0, 0, 0),
])
def test_window_edges_are_half_open(offset, in7, in30, in90):
    tables = _tables([("a", "task", T - offset)])
    row = _row(tables)
    assert (row["task_count_7d"], row["task_count_30d"], row["task_count_90d"]) == (in7, in30, in90)
    assert row["task_count_all"] == 1


def test_conversion_exactly_at_t_is_eligible_with_label_1():
    tables = _tables([("a", "task", T - DAY)], conversions=[("a", T)])
    frame = build_training_table(tables, [T], plan_features(tables, T, FeatureConfig()), horizon_days=30)
    assert frame.set_index("account_id").loc["a", "label"] == 1


def test_conversion_a_second_before_t_is_not_eligible():
    tables = _tables([("a", "task", T - DAY)], conversions=[("a", T - SECOND)])
    frame = build_features(tables, [T], plan_features(tables, T, FeatureConfig()))
    assert "a" not in set(frame["account_id"]) and "b" in set(frame["account_id"])


@pytest.mark.parametrize("when, label", [(T + 30 * DAY - SECOND, 1), (T + 30 * DAY, 0)])
def test_label_horizon_is_half_open(when, label):
    tables = _tables([("a", "task", T - DAY)], conversions=[("a", when)])
    frame = build_training_table(tables, [T], plan_features(tables, T, FeatureConfig()), horizon_days=30)
    assert frame.set_index("account_id").loc["a", "label"] == label


def test_account_created_at_t_is_not_eligible():
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [T, T - SECOND]})
    ev = pd.DataFrame({"account_id": ["b"], "event": ["x"], "timestamp": [T - SECOND]})
    ev["timestamp"] = ev["timestamp"].astype("datetime64[us]")
    conv = pd.DataFrame({"account_id": ["a"], "converted_at": [T + 90 * DAY]})
    conv = conv.astype({"converted_at": "datetime64[us]"})
    tables, _ = load_frames({"accounts": accounts, "events": ev, "conversions": conv})
    frame = build_features(tables, [T], plan_features(tables, T, FeatureConfig()))
    assert frame["account_id"].tolist() == ["b"]


def test_hand_computed_usage_features():
    # two users, three active days, two types; trend compares [t-7d, t) with [t-14d, t-7d)
    events = [("a", "task", T - 1 * DAY), ("a", "task", T - 1 * DAY + SECOND), ("a", "invite", T - 3 * DAY),
              ("a", "task", T - 10 * DAY), ("a", "task", T - 40 * DAY)]
    tables = _tables(events)
    row = _row(tables, key_events=("invite",))
    assert row["events_count_7d"] == 3 and row["events_count_30d"] == 4 and row["events_count_90d"] == 5
    assert row["active_days_7d"] == 2 and row["active_days_30d"] == 3 and row["active_days_90d"] == 4
    assert row["event_types_7d"] == 2 and row["event_types_90d"] == 2
    assert row["events_trend_7d"] == pytest.approx((3 - 1) / 4)
    assert row["days_since_last_event"] == 0
    assert row["days_since_signup"] == 100
    assert row["days_to_first_invite"] == 97


def test_snapshots_at_other_times_of_day_use_their_own_day_buckets():
    noon = T + pd.Timedelta(hours=12)
    tables = _tables([("a", "task", noon - 7 * DAY), ("a", "task", T - 7 * DAY)])
    spec = plan_features(tables, noon, FeatureConfig())
    frame = build_features(tables, [T, noon], spec).set_index(["account_id", "as_of"])
    assert frame.loc[("a", noon), "task_count_7d"] == 1  # noon - 7d is inside; T - 7d is not
    assert frame.loc[("a", T), "task_count_7d"] == 2      # at T both lie in [T - 7d, T)


def test_a_fit_attribute_that_turned_into_text_is_a_clear_error():
    from features.errors import DataError

    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [T - 100 * DAY] * 2, "seats": [5, 10]})
    ev = pd.DataFrame({"account_id": ["a"], "event": ["task"], "timestamp": [T - DAY]}).astype(
        {"timestamp": "datetime64[us]"})
    none = pd.DataFrame({"account_id": pd.Series([], dtype=str), "converted_at": pd.Series([], dtype="datetime64[us]")})
    trained_on, _ = load_frames({"accounts": accounts, "events": ev, "conversions": none})
    spec = plan_features(trained_on, T, FeatureConfig())
    later, _ = load_frames({"accounts": accounts.assign(seats=["5", "ten"]), "events": ev, "conversions": none})
    with pytest.raises(DataError, match="table 'accounts', column 'seats': should be numeric"):
        build_features(later, [T], spec)
