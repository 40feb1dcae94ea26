"""Capacity: the model's curve and each definition's point per week, hand-computed on two snapshots."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from train.capacity import ANY, LEARNED, TIER1, at_capacity, definition_flags, definition_points, model_curve


def _test(with_learned: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame({
        "account_id": list("abcdefgh"),
        "as_of": pd.to_datetime(["2024-01-08"] * 4 + ["2024-01-15"] * 4),
        "label": [1, 0, 1, 0, 0, 1, 0, 0],
        "log_odds": [4.0, 3.0, 2.0, 1.0] * 2,
        "pql_tier": pd.array([1, 1, None, 2, 1, None, None, None], dtype="Int64"),
        "rule_a": [False, True, True, False, False, True, False, True],
        "rule_b": [True, False, False, False, False, False, False, False],
        "learned": [True, False, True, False, True, True, False, False],
    })
    return frame if with_learned else frame.drop(columns="learned")


def test_model_curve_ranks_within_each_snapshot():
    curve = model_curve(_test(), every_days=7)
    assert curve["per_snapshot"].tolist() == [1, 2, 3, 4]
    assert curve["per_week"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert curve["precision"].tolist() == pytest.approx([0.5, 0.5, 0.5, 3 / 8])
    assert curve["conversions_per_week"].tolist() == pytest.approx([0.5, 1.0, 1.5, 1.5])
    assert curve["recall"].iloc[-1] == 1.0


def test_volumes_scale_to_a_week_by_the_snapshot_step():
    daily = model_curve(_test(), every_days=1)
    assert daily["per_week"].tolist() == [7.0, 14.0, 21.0, 28.0]
    assert daily["conversions_per_week"].iloc[1] == pytest.approx(7.0)


def test_definition_points_and_the_model_at_the_same_volume():
    points = definition_points(_test(), every_days=7).set_index("name")
    assert list(points.index) == ["a", "b", ANY, LEARNED, TIER1]
    assert points.loc["a", ["flagged", "per_week", "precision", "conversions_per_week"]].tolist() == [4, 2.0, 0.5, 1.0]
    assert points.loc["b", ["precision", "model_precision", "model_conversions_per_week"]].tolist() == [1.0, 1.0, 0.5]
    assert points.loc[ANY, ["flagged", "precision"]].tolist() == [5, 0.6]
    assert points.loc[LEARNED, ["precision", "model_precision"]].tolist() == [0.75, 0.5]
    assert points.loc[TIER1, ["flagged", "converted"]].tolist() == [3, 1]
    assert points.loc[TIER1, "kind"] == "model" and points.loc[LEARNED, "kind"] == "learned"


@pytest.mark.parametrize("capacity, model, best, added", [(2, 1.0, 1.5, -0.5), (1, 0.5, 0.75, -0.25)])
def test_at_capacity_a_definition_fills_at_most_the_capacity(capacity, model, best, added):
    out = at_capacity(_test(), capacity, every_days=7)
    assert out["model_conversions_per_week"] == pytest.approx(model)
    assert out["best_definition"] == LEARNED
    assert out["best_conversions_per_week"] == pytest.approx(best)
    assert out["added_conversions_per_week"] == pytest.approx(added)
    table = out["definitions"].set_index("name")
    assert TIER1 not in table.index  # tier 1 is the model's own cut, not a rival
    assert table.loc[ANY, "calls_per_week"] == min(2.5, capacity)


def test_without_the_learned_list_the_best_hand_rule_wins():
    out = at_capacity(_test(with_learned=False), 2, every_days=7)
    assert out["best_definition"] == ANY and out["best_conversions_per_week"] == pytest.approx(1.2)
    assert LEARNED not in definition_flags(_test(with_learned=False)).columns


def test_at_capacity_with_two_week_snapshots_calls_more_per_snapshot():
    out = at_capacity(_test(), 2, every_days=14)  # 2 a week = 4 per two-week snapshot
    assert out["model_per_week"] == pytest.approx(2.0)
    assert out["model_conversions_per_week"] == pytest.approx(0.75)


def test_without_any_definition_there_is_nothing_to_beat():
    test = _test().drop(columns=["rule_a", "rule_b", "learned", "pql_tier"])
    out = at_capacity(test, 2, every_days=7)
    assert out["best_definition"] is None and out["added_conversions_per_week"] is None
    assert np.isclose(out["model_conversions_per_week"], 1.0)


def test_every_comparison_at_capacity_carries_an_interval_and_words_that_follow_it():
    rng = np.random.default_rng(2)
    n_snap, per = 12, 400
    accounts = np.tile(np.arange(per), n_snap)
    y = (rng.random(n_snap * per) < 0.05).astype(int)
    test = pd.DataFrame({"account_id": accounts, "as_of": np.repeat(pd.date_range("2024-01-01", periods=n_snap,
                                                                                  freq="7D"), per),
                         "label": y, "log_odds": y * 3 + rng.normal(size=len(y)),
                         "rule_weak": rng.random(len(y)) < 0.1, "learned": (y == 1) | (rng.random(len(y)) < 0.02)})
    out = at_capacity(test, 20, 7)
    table = out["definitions"].set_index("name")
    assert table.loc["weak", "added_low"] > 0 and table.loc["weak", "verdict"].startswith("finds")
    learned = out["versus_learned"]
    assert learned["name"] == LEARNED and learned["added_low"] <= learned["added_per_week"] <= learned["added_high"]
    assert out["versus_rule"]["name"] == "weak" and out["verdict"] == table.loc[out["best_definition"], "verdict"]


def test_a_daily_grid_calls_the_weekly_capacity_over_seven_snapshots():
    test = pd.DataFrame({"account_id": np.arange(70) % 10, "as_of": np.repeat(pd.date_range("2024-01-01", periods=7),
                                                                             10),
                         "label": np.tile([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 7), "log_odds": np.tile(np.arange(10, 0, -1), 7)})
    out = at_capacity(test, 14, every_days=1)  # 14 a week = 2 a day
    assert out["calls_per_snapshot"] == 2 and out["model_per_week"] == pytest.approx(14)
    assert out["model_conversions_per_week"] == pytest.approx(7)  # the day's top 2 hold its one converter
