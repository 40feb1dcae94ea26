"""Calibration of the model's log-odds, chosen and fitted on out-of-time predictions, stored as plain numbers.

Fitting is scikit-learn's own: ``CalibratedClassifierCV(FrozenEstimator(...))`` on the backtest's
out-of-fold log-odds (like ``CalibratedClassifierCV(ensemble=False)``, with time folds instead of
random ones: no history is set aside for calibration). What it learned is a function of the
log-odds: ``none`` -- the model's own probability ``1 / (1 + exp(-f))``; ``isotonic`` -- a
piecewise-linear map through ``(x, y)`` knots, clipped at the ends; ``sigmoid`` -- Platt's
``1 / (1 + exp(a * f + b))``. ``apply`` evaluates exactly that function.

``method=auto`` picks, among none, sigmoid and isotonic, the one with the lowest log loss on
predictions it was not fitted on (each fold calibrated by a map fitted on the other folds), among those that
keep the level: the mean score within ``LEVEL_TOLERANCE`` (5%) of the base rate over the pooled folds, and
that do not collapse the scores (an isotonic map that puts a large share of accounts on one value cannot
rank them). When no method keeps the level (the folds' base rates differ more than their log-odds say), the
best one is shifted by one intercept (``shift``, in log-odds) so that its pooled mean is the base rate --
the level the production map, fitted on all the folds at once, has too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


LEVEL_TOLERANCE = 0.05  # |mean score / base rate - 1| the calibration must keep on the pooled backtest
COLLAPSE_SHARE = 0.25   # an isotonic map putting more than this share of rows on its lowest value collapses


@dataclass(frozen=True)
class Calibrator:
    """A calibration map of log-odds as plain numbers: none, isotonic knots or Platt's sigmoid, then an
    intercept ``shift`` in log-odds (0: none)."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0
    shift: float = 0.0

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
            p = np.interp(f, self.x, self.y)
        elif self.method == "sigmoid":
            p = 1.0 / (1.0 + np.exp(self.a * f + self.b))
        else:
            p = 1.0 / (1.0 + np.exp(-f))
        return p if self.shift == 0.0 else shifted(p, self.shift)

    def with_shift(self, shift: float) -> "Calibrator":
        """The same map followed by an intercept ``shift`` (log-odds)."""
        return Calibrator(self.method, self.x, self.y, self.a, self.b, float(shift))

    def to_dict(self) -> dict:
        """The map as plain JSON data (``calibrator.json``)."""
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b,
                "shift": self.shift}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        """The map from :meth:`to_dict`'s data (one saved before ``shift`` existed has none)."""
        return cls(data["method"], tuple(data.get("x", ())), tuple(data.get("y", ())), data.get("a", 0.0),
                   data.get("b", 0.0), float(data.get("shift", 0.0)))


def shifted(p: np.ndarray, shift: float) -> np.ndarray:
    """Probabilities moved by ``shift`` in log-odds."""
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + shift)))


def level_shift(p: np.ndarray, y: np.ndarray) -> float:
    """The intercept (log-odds) that makes the mean of ``p`` the rate of ``y`` (bisection: the mean grows
    with the shift).

    >>> p = np.full(100, 0.1); y = np.r_[np.ones(20), np.zeros(80)]
    >>> round(float(shifted(p, level_shift(p, y)).mean()), 6)
    0.2
    """
    target = float(np.mean(y))
    if not 0 < target < 1:
        return 0.0
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if shifted(p, mid).mean() < target else (lo, mid)
    return (lo + hi) / 2


def level(p: np.ndarray, y: np.ndarray) -> float:
    """Mean score over base rate, minus one (0: the level is right; nan without a positive)."""
    base = float(np.mean(y)) if len(y) else 0.0
    return float(np.mean(p)) / base - 1.0 if base > 0 else float("nan")


def collapses(p: np.ndarray) -> bool:
    """True when a map puts more than :data:`COLLAPSE_SHARE` of the rows on its lowest value (they can no
    longer be ranked among themselves)."""
    p = np.asarray(p, float)
    return len(p) > 0 and float(np.mean(p <= p.min() + 1e-15)) > COLLAPSE_SHARE


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
    """The chosen method, its cross-fitted probabilities, every candidate's held-out log loss and level (mean
    score / base rate - 1), the intercept shift applied to keep the level (0: none needed), and the methods
    left out for collapsing the scores."""

    method: str
    probabilities: np.ndarray
    log_loss: dict[str, float]
    level: dict[str, float] = field(default_factory=dict)
    shift: float = 0.0
    collapsed: tuple[str, ...] = ()


def _loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1]))


def choose(log_odds: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str = "auto") -> Choice:
    """The configured method, or (``auto``) the candidate with the lowest cross-fitted log loss among those that
    keep the level and do not collapse the scores (see the module doc); a more flexible map must win by more
    than 0.1% (ties go to the simpler one). The chosen probabilities are shifted back to the base rate when
    even the chosen method misses it by more than :data:`LEVEL_TOLERANCE`."""
    if method not in CHOICES:
        raise ConfigError(f"calibration.method: '{method}' is not one of {CHOICES}")
    candidates = METHODS if method == "auto" else (method,)
    if len(np.unique(groups)) < 2:
        candidates = ("none",) if method == "auto" else candidates
    probs = {m: cross_fitted(log_odds, y, groups, m) for m in candidates}
    losses = {m: _loss(p, y) for m, p in probs.items()}
    levels = {m: level(p, y) for m, p in probs.items()}
    collapsed = tuple(m for m in candidates if m == "isotonic" and method == "auto" and collapses(probs[m]))
    usable = [m for m in candidates if m not in collapsed] or list(candidates)
    keeping = [m for m in usable if abs(levels[m]) <= LEVEL_TOLERANCE] or usable
    best = keeping[0]
    for m in keeping[1:]:
        if losses[m] < losses[best] * 0.999:
            best = m
    p, shift = probs[best], 0.0
    if np.isfinite(levels[best]) and abs(levels[best]) > LEVEL_TOLERANCE:
        shift = level_shift(p, y)
        p = shifted(p, shift)
    return Choice(best, p, losses, levels, shift, collapsed)
