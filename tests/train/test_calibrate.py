"""Calibration: the stored function is scikit-learn's; it lowers calibration error; auto keeps the ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from train.calibrate import Calibrator, choose, cross_fitted
from train.evaluate import ece


def _overconfident_model():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=6000)})
    y = (rng.uniform(size=6000) < 1 / (1 + np.exp(-(X["x"] - 3)))).astype(int).to_numpy()
    # trained on a re-weighted sample, so its probabilities are far too high
    clf = LogisticRegression(class_weight="balanced").fit(X[:3000], y[:3000])
    return clf, X[3000:], y[3000:]


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_stored_calibration_equals_scikit_learn(method):
    clf, X, y = _overconfident_model()
    cal = Calibrator.fit(clf.decision_function(X[:1500]), y[:1500], method)
    ccv = CalibratedClassifierCV(FrozenEstimator(clf), method=method).fit(X[:1500], y[:1500])
    ours = cal.apply(clf.decision_function(X[1500:]))
    np.testing.assert_allclose(ours, ccv.predict_proba(X[1500:])[:, 1], rtol=1e-9, atol=1e-12)
    assert Calibrator.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_lowers_ece(method):
    clf, X, y = _overconfident_model()
    cal = Calibrator.fit(clf.decision_function(X[:1500]), y[:1500], method)
    before = ece(clf.predict_proba(X[1500:])[:, 1], y[1500:])
    after = ece(cal.apply(clf.decision_function(X[1500:])), y[1500:])
    assert after < before / 3


def test_none_is_the_models_own_probability():
    f = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(Calibrator("none").apply(f), 1 / (1 + np.exp(-f)))


def test_auto_repairs_an_overconfident_model_and_keeps_a_calibrated_one():
    clf, X, y = _overconfident_model()
    groups = np.arange(len(y)) % 4
    choice = choose(clf.decision_function(X), y, groups)
    assert choice.method in ("sigmoid", "isotonic") and choice.log_loss[choice.method] < choice.log_loss["none"]
    # log-odds that are already calibrated: nothing beats "none" by enough to be chosen
    rng = np.random.default_rng(3)
    f = rng.normal(-3, 1, 20000)
    yy = (rng.uniform(size=f.size) < 1 / (1 + np.exp(-f))).astype(int)
    assert choose(f, yy, np.arange(f.size) % 4).method == "none"


def test_cross_fitting_never_uses_a_groups_own_labels():
    rng = np.random.default_rng(0)
    f = rng.normal(size=400)
    y = (rng.uniform(size=400) < 0.3).astype(int)
    groups = np.repeat([0, 1], 200)
    p = cross_fitted(f, y, groups, "sigmoid")
    flipped = y.copy()
    flipped[:200] = 1 - flipped[:200]  # change group 0's labels: its own probabilities must not move
    np.testing.assert_allclose(cross_fitted(f, flipped, groups, "sigmoid")[:200], p[:200])


def test_sigmoid_keeps_distinct_scores():
    clf, X, y = _overconfident_model()
    cal = Calibrator.fit(clf.decision_function(X[:1500]), y[:1500], "sigmoid")
    scores = cal.apply(clf.decision_function(X[1500:]))
    assert len(np.unique(scores)) > 0.9 * len(scores)


def test_auto_keeps_the_level_where_log_loss_alone_would_not():
    # the model's own probabilities are 25% too high, everywhere alike: log loss barely notices at a 2% base
    # rate, the level does; auto leaves "none" out and its choice keeps the mean score within 5%
    rng = np.random.default_rng(4)
    p_true = rng.uniform(0.005, 0.04, 30000)
    y = (rng.uniform(size=30000) < p_true).astype(int)
    f = np.log(1.25 * p_true / (1 - 1.25 * p_true))
    groups = np.repeat(np.arange(4), 7500)
    choice = choose(f, y, groups, "auto")
    assert abs(choice.level["none"]) > 0.05
    assert choice.method != "none" and abs(choice.probabilities.mean() / y.mean() - 1) <= 0.05


def test_a_method_that_misses_the_level_everywhere_is_shifted_back():
    # every fold converts at another rate: maps fitted on the other folds miss each fold's level; the pooled
    # level is then restored by one intercept, recorded on the choice and applied by the calibrator
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(3), 8000)
    rate = np.array([0.01, 0.02, 0.08])[groups]
    f = rng.normal(size=24000)
    y = (rng.uniform(size=24000) < rate * np.exp(0.3 * f) / np.exp(0.045)).astype(int)
    choice = choose(np.log(0.03) + 0.3 * f, y, groups, "none")
    assert choice.shift != 0.0 and abs(choice.probabilities.mean() / y.mean() - 1) < 0.01
    shifted = Calibrator("none").with_shift(choice.shift)
    assert np.allclose(shifted.apply(np.log(0.03) + 0.3 * f), choice.probabilities)
    assert Calibrator.from_dict(shifted.to_dict()) == shifted


def test_an_isotonic_map_that_puts_most_accounts_on_one_value_is_not_chosen():
    rng = np.random.default_rng(6)
    f = rng.normal(size=20000)
    y = ((f > 2.2) & (rng.uniform(size=20000) < 0.5)).astype(int)  # below 2.2 nobody converts: isotonic flattens
    choice = choose(f, y, np.repeat(np.arange(4), 5000), "auto")
    assert "isotonic" in choice.collapsed and choice.method != "isotonic"
