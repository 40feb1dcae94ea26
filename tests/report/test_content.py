"""What the report says, as data: the headline's wording, calibration in words, the funnel pooled on the
cohorts every definition covers, the definitions with and without a learned list."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from rules.language import RuleSet
from report.content import (band_label, calibration_bands, calibration_words, common_cohorts, definitions, fold,
                            funnel_summary, headline, tier_rows)


def _run(versus_rule=None, versus_learned=None):
    capacity = {"capacity_per_week": 50, "model_conversions_per_week": 9.1}
    capacity.update({k: v for k, v in (("versus_rule", versus_rule), ("versus_learned", versus_learned)) if v})
    return SimpleNamespace(capacity=capacity)


def test_the_headline_names_the_best_rule_and_the_learned_list_in_the_words_of_their_intervals():
    rule = {"name": "any rule", "verdict": "finds 2.3 more conversions a week (0.8 to 3.9)"}
    learned = {"name": "learned list", "verdict": "shows no measurable difference (-0.5 to +1.2 conversions a week)"}
    text = headline(_run(rule, learned), 14)
    assert text.startswith("At 50 calls a week the model converts 9.1 a week -- against the best hand rule (any rule) "
                           "it finds 2.3 more conversions a week (0.8 to 3.9); against the learned list it shows no "
                           "measurable difference")
    assert "measured over 14 backtest weeks" in text
    assert "no definition to compare with" in headline(_run(), 3)
    assert "measured over 1 backtest week;" in headline(_run(), 1)


def test_calibration_in_plain_words():
    score = np.r_[np.full(50, 0.2), np.full(50, 0.6)]
    y = np.r_[np.ones(10), np.zeros(40), np.ones(30), np.zeros(20)]
    bands = calibration_bands(score, y, bands=2)
    assert np.allclose(bands[["accounts", "mean_score", "converted"]].to_numpy(float), [[50, 0.2, 0.2], [50, 0.6, 0.6]])
    assert calibration_words(bands) == ["Of the 50 accounts scored 20% (20% to 20%), 20% converted.",
                                        "Of the 50 accounts scored 60% (60% to 60%), 60% converted."]
    assert calibration_words(calibration_bands(np.array([0.025]), np.array([0]), 1)) == [
        "Of the 1 account scored 2.5% (2.5% to 2.5%), 0% converted."]


def test_the_funnel_is_pooled_on_the_cohorts_every_definition_covers():
    weeks = pd.to_datetime(["2024-01-01", "2024-01-08"])
    table = pd.DataFrame({"cohort": [weeks[0], weeks[1], weeks[1]], "definition": ["rule", "rule", "tier 1"],
                          "accounts": [10, 30, 30], "customers": 0.1, "pql_7d": [0.5, 0.1, 0.2],
                          "pql_30d": [0.5, 0.2, 0.4], "pqls": [5, 6, 12], "median_days_to_pql": [3.0, 10.0, 5.0],
                          "pql_to_customer": [0.2, 0.5, 0.25]})
    assert common_cohorts(table)["cohort"].unique().tolist() == [weeks[1]]
    pooled = funnel_summary(table).set_index("definition")
    assert pooled.loc["rule", ["cohorts", "accounts", "pqls"]].tolist() == [2, 40, 11]
    assert pooled.loc["rule", "pql_7d"] == pytest.approx((0.5 * 10 + 0.1 * 30) / 40)
    assert pooled.loc["rule", "pql_to_customer"] == pytest.approx((1 + 3) / 11)
    assert funnel_summary(table.iloc[:0]).empty


def test_tiers_in_words_with_their_interval():
    tiers = pd.DataFrame({"pql_tier": ["1", "none"], "accounts": [100, 900], "converted": [30, 9],
                          "per_snapshot": [10.0, 90.0], "conversion_rate": [0.3, 0.01], "rate_low": [0.22, 0.005],
                          "rate_high": [0.39, 0.019]})
    rows = tier_rows(tiers, every_days=7)
    assert rows[0]["tier"].startswith("Tier 1 - call now") and rows[0]["interval"] == "22.0% to 39.0%"
    assert rows[1]["tier"] == "No tier" and rows[1]["per_week"] == "90"


def _result(learned: pd.DataFrame | None):
    rules = RuleSet.from_config({"busy": {"description": "Busy team", "expression": "tasks >= 3"}})
    comparison = pd.DataFrame({"name": ["busy", "any_rule"], "flagged": [12, 12], "precision": [0.25, 0.25]})
    out = SimpleNamespace(scorer=SimpleNamespace(rules=rules), comparison=comparison)
    if learned is not None:
        out.definitions = learned
    return out


def test_definitions_with_and_without_a_learned_list():
    plain = definitions(_result(None))
    assert plain[["source", "name", "words", "measured", "flagged", "precision"]].values.tolist() == [
        ["hand-written", "busy", "Busy team", "out of time", "12", "25.0%"]]
    learned = pd.DataFrame({"name": ["learned_1"], "expression": ["seats >= 5"], "words": ["seats: at least 5"],
                            "stability": [0.75], "flagged": [40], "converted": [10], "precision": [0.25]})
    both = definitions(_result(learned))
    assert both["source"].tolist() == ["hand-written", "learned"]
    assert both.iloc[1][["words", "stability", "measured", "precision"]].tolist() == [
        "seats: at least 5", "75%", "in-sample", "25.0% (in-sample)"]


def test_skewed_scores_get_equal_sized_bands_whose_labels_tell_them_apart():
    rng = np.random.default_rng(3)
    score = np.clip(rng.lognormal(np.log(0.001), 1.0, 20_000), 0, 1)  # base rate about 0.2%
    bands = calibration_bands(score, rng.random(20_000) < score, bands=8)
    assert bands["accounts"].tolist() == [2_500] * 8
    labels = [band_label(b.low, b.high) for b in bands.itertuples()]
    assert len(set(labels)) == 8 and not any("0.0%" in label for label in labels), labels
    assert all("0.0%" not in line and line.startswith("Of the 2,500 accounts") for line in calibration_words(bands))


def test_a_long_table_folds_after_its_first_rows():
    assert fold(list("abcdefghij"), 8) == (list("abcdefgh"), ["i", "j"])
    assert fold([1, 2], 8) == ([1, 2], [])
