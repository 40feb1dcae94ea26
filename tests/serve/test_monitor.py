"""What each scoring run records (serve.monitor): counts per tier, score quantiles, drift against training,
and the two warnings -- drifted columns, and a tier 1 far larger than the capacity it was sized for."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.drift import psi, reference
from serve.monitor import CAPACITY_SLACK, Sizing, monitor, sized_for


def weekly(capacity: int) -> Sizing:
    """A model sized on a weekly grid: the whole weekly capacity called from each snapshot."""
    return Sizing(capacity, capacity, 7)


def _scores(tiers: list, n: int | None = None) -> pd.DataFrame:
    n = len(tiers) if n is None else n
    return pd.DataFrame({"score": np.linspace(0.0, 1.0, n), "pql_tier": pd.array(tiers, dtype="Int64"),
                         "intent_tier": ["high"] * (n // 2) + ["low"] * (n - n // 2), "fit_tier": ["unknown"] * n})


def test_counts_per_tier_and_score_quantiles():
    scores = _scores([1, 1, 2, 3, None, None, None, 2, 1, None])
    out = monitor(scores, pd.DataFrame(index=scores.index), {}, weekly(3), psi_warn=0.2)
    m = out.metrics
    assert (m["accounts_scored"], m["pql_tier_1"], m["pql_tier_2"], m["pql_tier_3"], m["pql_tier_none"]) == (
        10, 3, 2, 1, 4)
    assert (m["intent_tier_high"], m["intent_tier_low"], m["fit_tier_unknown"]) == (5, 5, 10)
    assert m["score_p50"] == pytest.approx(0.5) and m["score_mean"] == pytest.approx(0.5)
    assert m["pql_tier_1_per_capacity"] == 1.0 and m["features_drifted"] == 0
    assert out.warnings == [] and out.drift.empty


def test_drift_is_measured_per_feature_and_on_the_score_and_warned_above_the_threshold():
    rng = np.random.default_rng(0)
    train = pd.Series(rng.normal(0, 1, 5000))
    scores = _scores([None] * 2000)
    features = pd.DataFrame({"same": rng.normal(0, 1, 2000), "moved": rng.normal(3, 1, 2000)})
    ref = {"same": reference(train), "moved": reference(train), "score": reference(pd.Series(rng.uniform(size=5000))),
           "gone": reference(train)}  # a column today's features lack is left out, not an error
    out = monitor(scores, features, ref, weekly(10), psi_warn=0.2)
    table = out.drift.set_index("feature")
    assert list(out.drift["feature"])[0] == "moved" and set(table.index) == {"same", "moved", "score"}
    assert table.loc["moved", "psi"] == pytest.approx(psi(ref["moved"], features["moved"]))
    assert table.loc["moved", "drifted"] and not table.loc["same", "drifted"]
    assert out.metrics["psi_moved"] == table.loc["moved", "psi"] and out.metrics["features_drifted"] == 1
    assert len(out.warnings) == 1 and out.warnings[0].startswith("drift: 1 columns have PSI > 0.2") and \
        "moved (" in out.warnings[0]


def test_tier_one_is_warned_only_beyond_the_slack_over_the_capacity():
    capacity = 10
    at_slack = _scores([1] * int(CAPACITY_SLACK * capacity))
    beyond = _scores([1] * (int(CAPACITY_SLACK * capacity) + 1))
    assert monitor(at_slack, pd.DataFrame(), {}, weekly(capacity), 0.2).warnings == []
    (warning,) = monitor(beyond, pd.DataFrame(), {}, weekly(capacity), 0.2).warnings
    assert "PQL tier 1 holds 16 accounts" in warning and "capacity of 10 a week" in warning


def test_a_daily_model_is_checked_against_what_it_called_a_day():
    # a model trained on daily snapshots sized tier 1 to the weekly capacity over a day: 70 a week is 10 a day
    sizing = sized_for({"capacity_per_week": 70, "calls_per_snapshot": 10, "every_days": 1})
    assert monitor(_scores([1] * 15), pd.DataFrame(), {}, sizing, 0.2).warnings == []
    (warning,) = monitor(_scores([1] * 16), pd.DataFrame(), {}, sizing, 0.2).warnings
    assert "more than 1.5x the 10 the model was sized for" in warning and "every 1 days: 10 at a time" in warning
    # a weekly model of 70 a week would not warn at 16
    assert monitor(_scores([1] * 16), pd.DataFrame(), {}, weekly(70), 0.2).warnings == []


def test_no_capacity_and_no_rows():
    out = monitor(_scores([]), pd.DataFrame(), {"score": reference(pd.Series([0.1, 0.2]))}, None, psi_warn=0.2)
    assert out.metrics["accounts_scored"] == 0 and math.isnan(out.metrics["pql_tier_1_per_capacity"])
    assert "score_mean" not in out.metrics and out.drift.empty and out.warnings == []
