"""Alerts (serve.alerts): what changed since the previous run, checked exactly over three days, a rerun and a gap."""
from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from serve.alerts import COLUMNS, AlertsConfig, alerts


def _day(day: str, rows: dict[str, tuple]) -> pd.DataFrame:
    """A scores table: account -> (score, tier, rule_power, learned, reasons)."""
    ids = sorted(rows)
    return pd.DataFrame({
        "account_id": ids, "as_of": pd.Timestamp(day), "score": [rows[a][0] for a in ids],
        "pql_tier": pd.array([rows[a][1] for a in ids], dtype="Int64"),
        "rule_power": [rows[a][2] for a in ids], "learned": [rows[a][3] for a in ids],
        "reasons": [rows[a][4] for a in ids], "model_version": "3"})


DAY1 = _day("2024-05-06", {"a": (.50, 1, False, False, "x"), "b": (.20, 2, False, False, "z"),
                           "c": (.05, None, True, False, "w")})
DAY2 = _day("2024-05-07", {"a": (.55, 1, True, False, "x; y"), "b": (.31, 1, False, False, "z"),
                           "c": (.05, None, True, False, "w"), "d": (.40, 1, False, True, "v")})
DAY3 = _day("2024-05-08", {"a": (.44, 1, True, False, "x"), "b": (.20, 2, False, False, "z"),
                           "c": (.06, None, True, True, "w")})
DAY6 = _day("2024-05-11", {"a": (.44, 1, True, False, "x"), "b": (.40, 1, False, False, "z; q"),
                           "c": (.06, None, False, True, "w")})


def _summary(frame: pd.DataFrame) -> list[tuple]:
    return list(frame[["account_id", "change", "new_reasons"]].itertuples(index=False, name=None))


def test_the_first_run_says_everything_in_tier_1_or_flagged_is_new():
    out = alerts(DAY1, None)
    assert _summary(out) == [("a", "new in tier 1", "x"), ("c", "rule power newly true", "w")]
    assert out["first_run"].all() and out["compared_with"].isna().all()
    assert list(out.columns) == list(COLUMNS)


def test_three_consecutive_days_a_rerun_and_a_gap():
    day2 = alerts(DAY2, DAY1)
    assert _summary(day2) == [("a", "rule power newly true", "y"),  # highest score first
                              ("d", "new in tier 1; learned definition newly true", "v"),
                              ("b", "new in tier 1; score +11 pts", "")]
    assert (day2["compared_with"] == pd.Timestamp("2024-05-06")).all() and not day2["first_run"].any()
    assert day2.set_index("account_id").loc["b", "previous_pql_tier"] == 2
    day3 = alerts(DAY3, DAY2)  # a fell 11 points; b left tier 1 and fell (a drop is said, not "new"); d is gone
    assert _summary(day3) == [("a", "score -11 pts", ""), ("b", "score -11 pts", ""),
                              ("c", "learned definition newly true", "")]
    assert alerts(DAY3, DAY2).equals(day3)  # a rerun of the day compares with the same earlier day: the same rows
    gap = alerts(DAY6, DAY3)  # two days skipped: against the newest earlier run, its date stated
    assert _summary(gap) == [("b", "new in tier 1; score +20 pts", "q")]
    assert (gap["compared_with"] == pd.Timestamp("2024-05-08")).all()


def test_the_score_threshold_is_strictly_more_than_the_points():
    before = _day("2024-05-06", {"a": (.50, 2, False, False, "x")})
    assert alerts(_day("2024-05-07", {"a": (.60, 2, False, False, "x")}), before).empty  # exactly 10: no alert
    assert len(alerts(_day("2024-05-07", {"a": (.60, 2, False, False, "x")}), before, AlertsConfig(9.5))) == 1


def test_a_quiet_day_gives_an_empty_typed_table():
    out = alerts(DAY1, DAY1)
    assert out.empty and list(out.columns) == list(COLUMNS)
    assert str(out["pql_tier"].dtype) == "Int64" and str(out["first_run"].dtype) == "bool"


def test_negative_points_are_a_config_error():
    with pytest.raises(ConfigError, match="alerts.score_points"):
        AlertsConfig(score_points=-1)


@pytest.mark.parametrize("settings, key", [({"keep_days": 0}, "alerts.keep_days"), ({"keep_days": 1.5}, "alerts.keep_days"),
                                           ({"keep_days": 1}, "alerts.keep_days"), ({"keep_days": True}, "alerts.keep_days"),
                                           ({"warm_days": -1}, "alerts.warm_days"), ({"warm_days": 32}, "alerts.warm_days"),
                                           ({"warm_days": True}, "alerts.warm_days")])
def test_kept_and_replayed_days_are_whole_numbers_in_range(settings, key):
    # keep_days=1 would keep only the day itself: its rerun would find nothing to compare with, all "first run"
    with pytest.raises(ConfigError, match=key):
        AlertsConfig(**settings)
    assert AlertsConfig(keep_days=2, warm_days=0).warm_days == 0 and AlertsConfig().warm_days is None
