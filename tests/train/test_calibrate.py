"""Calibration: the stored function is scikit-learn's; it lowers calibration error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from train.calibrate import Calibrator
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
    cal = Calibrator.fit(clf, X[:1500], y[:1500], method)
    ccv = CalibratedClassifierCV(FrozenEstimator(clf), method=method).fit(X[:1500], y[:1500])
    ours = cal.apply(clf.decision_function(X[1500:]))
    np.testing.assert_allclose(ours, ccv.predict_proba(X[1500:])[:, 1], rtol=1e-9, atol=1e-12)
    assert Calibrator.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_lowers_ece(method):
    clf, X, y = _overconfident_model()
    cal = Calibrator.fit(clf, X[:1500], y[:1500], method)
    before = ece(clf.predict_proba(X[1500:])[:, 1], y[1500:])
    after = ece(cal.apply(clf.decision_function(X[1500:])), y[1500:])
    assert after < before / 3
