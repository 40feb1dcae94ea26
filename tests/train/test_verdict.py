"""The verdict's uncertainty (train.verdict): a paired bootstrap over accounts, words that follow the interval."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from train.verdict import concordance, interval, per_unit, weights, words


def test_an_interval_holds_the_point_and_widens_with_fewer_units():
    rng = np.random.default_rng(1)
    many = {"a": rng.poisson(2.0, 2000).astype(float), "b": rng.poisson(1.0, 2000).astype(float)}
    few = {k: v[:40] for k, v in many.items()}
    point, low, high = interval(many, lambda s: (s["a"] - s["b"]) / 2000)
    assert low < point < high and low > 0
    _, flow, fhigh = interval(few, lambda s: (s["a"] - s["b"]) / 40)
    assert fhigh - flow > high - low


def test_the_bootstrap_is_paired_and_reproducible():
    values = np.arange(50, dtype=float)
    # both sides equal: every replicate's difference is exactly 0 (the same accounts are drawn for both)
    assert interval({"a": values, "b": values}, lambda s: s["a"] - s["b"])[1:] == (0.0, 0.0)
    assert (weights(30) == weights(30)).all() and weights(30).sum(axis=1).tolist() == [30.0] * 1000


def test_one_unit_has_no_interval():
    point, low, high = interval({"a": np.array([3.0])}, lambda s: s["a"])
    assert point == 3.0 and np.isnan(low) and np.isnan(high)
    assert "too few" in words(point, low, high)


def test_words_follow_the_interval_not_the_point():
    assert words(4.6, 2.1, 7.0) == "finds 4.6 more conversions a week (2.1 to 7.0)"
    assert words(-1.2, -2.0, -0.4) == "finds 1.2 fewer conversions a week (0.4 to 2.0)"
    assert words(3.0, -0.5, 6.5).startswith("shows no measurable difference")


def test_units_sum_every_row_of_an_account():
    assert per_unit(np.array([1, 2, 3, 4]), np.array(["b", "a", "b", "c"])).tolist() == [2.0, 4.0, 4.0]


def test_concordance_sums_to_the_within_snapshot_roc_auc_with_ties():
    rng = np.random.default_rng(3)
    y = rng.random(600) < 0.15
    score = np.round(rng.normal(size=600) + y, 1)  # rounded: many ties
    snapshot = np.zeros(600)
    concordant, pairs = concordance(y, score, snapshot)
    assert np.isclose(concordant.sum() / pairs.sum(), roc_auc_score(y, score))
    two = np.repeat([0, 1], 300)
    concordant, pairs = concordance(y, score, two)
    per = [(concordant[two == k].sum(), pairs[two == k].sum()) for k in (0, 1)]
    assert all(np.isclose(c / p, roc_auc_score(y[two == k], score[two == k])) for k, (c, p) in enumerate(per))
