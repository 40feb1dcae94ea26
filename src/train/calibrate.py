"""Calibration of the model's log-odds, chosen and fitted on out-of-time predictions, stored as plain numbers.

Fitting is scikit-learn's own: ``CalibratedClassifierCV(FrozenEstimator(...))`` on the backtest's
out-of-fold log-odds (like ``CalibratedClassifierCV(ensemble=False)``, with time folds instead of
random ones: no history is set aside for calibration). What it learned is a function of the
log-odds: ``none`` -- the model's own probability ``1 / (1 + exp(-f))``; ``isotonic`` -- a
piecewise-linear map through ``(x, y)`` knots, clipped at the ends; ``sigmoid`` -- Platt's
``1 / (1 + exp(a * f + b))``. ``apply`` evaluates exactly that function.

``method=auto`` picks, among none, sigmoid and isotonic, the one with the lowest log loss on
predictions it was not fitted on (each fold calibrated by a map fitted on the other folds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss

from features.errors import ConfigError

METHODS = ("none", "sigmoid", "isotonic")
CHOICES = (*METHODS, "auto")
_EPS = 1e-12


class _LogOdds(ClassifierMixin, BaseEstimator):
    """A "classifier" whose decision function is its single input column: lets scikit-learn's
    calibration fit a map of log-odds that were computed elsewhere (out of fold)."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float)[:, 0]

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])


@dataclass(frozen=True)
class Calibrator:
    """A calibration map of log-odds as plain numbers: none, isotonic knots or Platt's sigmoid."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def fit(cls, log_odds: np.ndarray, y: np.ndarray, method: str) -> "Calibrator":
        """Fit ``method`` on log-odds the model was not trained on, with their labels."""
        if method not in METHODS:
            raise ConfigError(f"calibration.method: '{method}' is not one of {CHOICES}")
        if method == "none" or len(np.unique(y)) < 2:
            return cls("none")
        f = np.asarray(log_odds, dtype=float).reshape(-1, 1)
        frozen = FrozenEstimator(_LogOdds().fit(f, y))
        learned = CalibratedClassifierCV(frozen, method=method).fit(f, y).calibrated_classifiers_[0].calibrators[0]
        if method == "isotonic":
            return cls(method, tuple(map(float, learned.X_thresholds_)), tuple(map(float, learned.y_thresholds_)))
        return cls(method, a=float(learned.a_), b=float(learned.b_))

    def apply(self, log_odds: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the model's log-odds."""
        f = np.asarray(log_odds, dtype=float)
        if self.method == "isotonic":
            return np.interp(f, self.x, self.y)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(self.a * f + self.b))
        return 1.0 / (1.0 + np.exp(-f))

    def to_dict(self) -> dict:
        """The map as plain JSON data (``calibrator.json``)."""
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        """The map from :meth:`to_dict`'s data."""
        return cls(data["method"], tuple(data.get("x", ())), tuple(data.get("y", ())), data.get("a", 0.0),
                   data.get("b", 0.0))


def cross_fitted(log_odds: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str) -> np.ndarray:
    """Each group's probabilities from a map fitted on the other groups (one group: the model's own)."""
    out = 1.0 / (1.0 + np.exp(-np.asarray(log_odds, dtype=float)))
    keys = np.unique(groups)
    if method == "none" or len(keys) < 2:
        return out
    for key in keys:
        held = groups == key
        out[held] = Calibrator.fit(log_odds[~held], y[~held], method).apply(log_odds[held])
    return out


@dataclass(frozen=True)
class Choice:
    """The chosen method, its cross-fitted probabilities, and every candidate's held-out log loss."""

    method: str
    probabilities: np.ndarray
    log_loss: dict[str, float]


def choose(log_odds: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str = "auto") -> Choice:
    """The configured method, or (``auto``) the candidate with the lowest cross-fitted log loss.

    A more flexible map must win by more than 0.1% to be chosen: ties go to the simpler one.
    """
    if method not in CHOICES:
        raise ConfigError(f"calibration.method: '{method}' is not one of {CHOICES}")
    candidates = METHODS if method == "auto" else (method,)
    if len(np.unique(groups)) < 2:
        candidates = ("none",) if method == "auto" else candidates
    probs = {m: cross_fitted(log_odds, y, groups, m) for m in candidates}
    losses = {m: float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1])) for m, p in probs.items()}
    best = candidates[0]
    for m in candidates[1:]:
        if losses[m] < losses[best] * 0.999:
            best = m
    return Choice(best, probs[best], losses)
