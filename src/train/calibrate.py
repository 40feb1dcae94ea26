"""Calibration on the calibration snapshots, stored as plain numbers so it travels without pickles.

Fitting is scikit-learn's own: ``CalibratedClassifierCV(FrozenEstimator(model), method=...)``.
What it learned is a function of the model's response (see :mod:`train.models`): isotonic -- a
piecewise-linear map through ``(x, y)`` knots, clipped at the ends (``IsotonicRegression``
with ``out_of_bounds="clip"``); sigmoid -- Platt's ``1 / (1 + exp(a * f + b))``. ``apply``
evaluates exactly that function; a test checks it against ``CalibratedClassifierCV.predict_proba``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from features.errors import ConfigError

METHODS = ("isotonic", "sigmoid")


@dataclass(frozen=True)
class Calibrator:
    """``response`` is what the calibration was fitted on: ``log_odds`` (the estimator's
    ``decision_function``, which scikit-learn prefers) or ``probability`` (``predict_proba``)."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0
    response: str = "log_odds"

    @classmethod
    def fit(cls, estimator, X: pd.DataFrame, y: np.ndarray, method: str) -> "Calibrator":
        """Fit scikit-learn's calibration of a fitted classifier on held-out (calibration) data."""
        if method not in METHODS:
            raise ConfigError(f"calibration.method: '{method}' is not one of {METHODS}")
        ccv = CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X, y)
        learned = ccv.calibrated_classifiers_[0].calibrators[0]
        # scikit-learn calibrates decision_function when the estimator has one, else predict_proba
        response = "log_odds" if hasattr(estimator, "decision_function") else "probability"
        if method == "isotonic":
            return cls(method, tuple(map(float, learned.X_thresholds_)), tuple(map(float, learned.y_thresholds_)),
                       response=response)
        return cls(method, a=float(learned.a_), b=float(learned.b_), response=response)

    def apply(self, log_odds: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the model's log-odds."""
        response = np.asarray(log_odds, dtype=float)
        if self.response == "probability":
            response = 1.0 / (1.0 + np.exp(-response))
        if self.method == "isotonic":
            return np.interp(response, self.x, self.y)
        return 1.0 / (1.0 + np.exp(self.a * response + self.b))

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b,
                "response": self.response}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        return cls(data["method"], tuple(data.get("x", ())), tuple(data.get("y", ())), data.get("a", 0.0),
                   data.get("b", 0.0), data.get("response", "log_odds"))
