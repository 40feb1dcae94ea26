"""The estimators, chosen by config (``model=lightgbm`` or ``model=logistic``), behind one interface.

Every fitted model gives:

* ``estimator`` -- the fitted scikit-learn classifier (calibration wraps it in ``FrozenEstimator``);
* ``response(X)`` -- the log-odds (``decision_function``: what scikit-learn's calibration maps
  to a probability for both estimators; LightGBM has it since 4.7);
* ``contributions(X)`` -- per-feature contributions in log-odds, one column per feature plus
  ``bias`` (LightGBM: path attribution, see :mod:`train.attribution`, or exact TreeSHAP with
  ``model.contributions=shap``; the linear model: ``coef * (x - mean)`` summed back onto the
  original feature);
* ``save(folder)`` / ``load_model(kind, folder)`` -- plain files, no pickles: LightGBM's text
  model, and for the linear model a skops file (only scikit-learn types, checked on load).

LightGBM lives here; the logistic baseline in :mod:`train.logistic`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.errors import ConfigError

from train.attribution import PathAttribution
from train.blend import BlendModel
from train.bundle import check_names
from train.config import ModelConfig
from train.logistic import LogisticModel, fit_logistic

class FittedModel(Protocol):
    """What every fitted model offers: raw log-odds, per-feature contributions, and saving to a bundle."""

    kind: str
    features: list[str]

    @property
    def estimator(self) -> Any:
        """The underlying scikit-learn estimator."""

    def response(self, X: pd.DataFrame) -> np.ndarray:
        """The raw response (log-odds) for each row of ``X``."""

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's contribution to the log-odds of each row, plus a ``bias`` column."""

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``(response(X), contributions(X))``."""

    def save(self, folder: Path) -> None:
        """Write the model's files into a bundle folder."""


# -- LightGBM ----------------------------------------------------------------------------------


CONTRIBUTIONS = ("path", "shap")


@dataclass
class LightGBMModel:
    """A LightGBM booster on the spec's features; contributions by path attribution (or SHAP)."""

    booster: lgb.Booster
    features: list[str]
    classifier: lgb.LGBMClassifier | None = None
    contribution_method: str = "path"
    kind: str = "lightgbm"
    FILE = "model.lgb.txt"
    _paths: PathAttribution | None = field(default=None, repr=False)

    @property
    def estimator(self) -> lgb.LGBMClassifier:
        """The scikit-learn wrapper it was trained with (a loaded model has none)."""
        if self.classifier is None:
            raise RuntimeError("a loaded LightGBM model has no scikit-learn wrapper; calibrate before saving")
        return self.classifier

    def response(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw score (log-odds) for each row."""
        return self.booster.predict(X[self.features], raw_score=True)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's contribution to the log-odds (path attribution or SHAP), plus ``bias``."""
        if self.contribution_method == "shap":
            values = self.booster.predict(X[self.features], pred_contrib=True)
        else:
            values = self._path_attribution()(X[self.features])
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=X.index)

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``(response(X), contributions(X))``, equal to the two calls; path attribution gives both in one walk
        of the trees (its raw score is LightGBM's, bit for bit: see :mod:`train.attribution`)."""
        if self.contribution_method == "shap":
            return self.response(X), self.contributions(X)
        raw, values = self._path_attribution().score(X[self.features])
        return raw, pd.DataFrame(values, columns=[*self.features, "bias"], index=X.index)

    def _path_attribution(self) -> PathAttribution:
        if self._paths is None:
            self._paths = PathAttribution(self.booster)
        return self._paths

    def save(self, folder: Path) -> None:
        """Write the booster as text (``model.lgb.txt``) and its contribution method (``lightgbm.json``)."""
        self.booster.save_model(str(Path(folder) / self.FILE))
        (Path(folder) / "lightgbm.json").write_text(json.dumps({"contributions": self.contribution_method}))

    @classmethod
    def load(cls, folder: Path, features: list[str]) -> "LightGBMModel":
        """The saved booster, checked: the file is complete before LightGBM parses it (its parser aborts
        the process on some damaged files) and its own feature names are ``features``, in order."""
        meta = json.loads((Path(folder) / "lightgbm.json").read_text())
        method = meta.get("contributions") if isinstance(meta, dict) else None
        if method not in CONTRIBUTIONS:
            raise ValueError(f"lightgbm.json: contributions {method!r} is not one of {CONTRIBUTIONS}")
        path = Path(folder) / cls.FILE
        _check_lightgbm_file(path)
        booster = lgb.Booster(model_file=str(path))
        check_names(path.name, [str(n) for n in booster.feature_name()], lightgbm_names(features), _lightgbm_name)
        return cls(booster, features, contribution_method=method)


_JSON_SPECIAL = re.compile(r'[\[\]{}",:]')  # what LightGBM refuses in a feature name (it writes them to JSON)


def lightgbm_names(features: list[str]) -> list[str]:
    """The names LightGBM learns under: the user's own, except that one holding a character LightGBM refuses
    (``[]{}",:``) gets those replaced by ``_`` and its position appended, so two names cannot meet. Everything
    the run shows (reasons, importance, rules) keeps the user's name; only the booster sees these.

    >>> lightgbm_names(["seats", "Employees (count, self-reported)"])
    ['seats', 'Employees (count_ self-reported)__1']
    """
    return [f"{_JSON_SPECIAL.sub('_', n)}__{i}" if _JSON_SPECIAL.search(n) else n for i, n in enumerate(features)]


def _for_lightgbm(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` under :func:`lightgbm_names` (a renamed view: the caller's frame is untouched)."""
    names = lightgbm_names([str(c) for c in X.columns])
    return X if names == list(X.columns) else X.set_axis(names, axis=1)


def _lightgbm_name(name: str) -> str:
    # LightGBM stores feature names with spaces replaced by underscores (other characters as given)
    return str(name).replace(" ", "_")


def _check_lightgbm_file(path: Path) -> None:
    """A complete LightGBM text model: header, trees, ``end of trees``, parameters, and the final
    ``pandas_categorical:`` line with valid JSON (a truncated file fails here, not inside LightGBM)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - (1 << 20)))
        tail = handle.read()
    if not head.startswith(b"tree\n"):
        raise ValueError(f"{path.name} is not a LightGBM text model")
    if b"\nend of trees\n" not in tail or b"\nend of parameters\n" not in tail:
        raise ValueError(f"{path.name} is incomplete (truncated: no 'end of trees'/'end of parameters')")
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if not last.startswith(b"pandas_categorical:"):
        raise ValueError(f"{path.name} is incomplete (truncated: no final 'pandas_categorical' line)")
    try:
        json.loads(last.removeprefix(b"pandas_categorical:"))
    except ValueError:
        raise ValueError(f"{path.name} is incomplete (truncated inside its 'pandas_categorical' line)") from None


def validation_rows(snapshot: np.ndarray, share: float) -> np.ndarray:
    """The rows of the newest ``share`` of the snapshots (at least one, never all)."""
    times = np.unique(snapshot)
    if len(times) < 2:
        return np.zeros(len(snapshot), dtype=bool)
    n_val = min(max(1, math.ceil(len(times) * share)), len(times) - 1)
    return np.isin(snapshot, times[-n_val:])


@dataclass(frozen=True)
class TreeCount:
    """The number of trees early stopping picked on a probe (``best``; None when there was no validation to
    stop on) and the rows the probe learned from. A model of ``n`` rows gets ``best x min(n / rows, 1.25)``
    trees: more rows support a few more trees at the same learning rate."""

    best: int | None
    rows: int
    default: int = 200

    def for_rows(self, n: int) -> int:
        """The number of trees for a model of ``n`` rows (the default when there was no probe)."""
        if self.best is None:
            return self.default
        return max(1, round(self.best * min(n / max(self.rows, 1), 1.25)))


def _lightgbm_settings(settings: dict[str, Any], n_rows: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(contributions method, early-stopping settings, LGBMClassifier arguments but n_estimators)."""
    settings = dict(settings)
    method = str(settings.pop("contributions", "path"))
    if method not in CONTRIBUTIONS:
        raise ConfigError(f"model.contributions: '{method}' is not one of {CONTRIBUTIONS}")
    stopping = {"rounds": int(settings.pop("early_stopping_rounds", 50)), "n_max": int(settings.pop("n_estimators", 1000)),
                "default": int(settings.pop("trees_without_validation", 200))}
    params = dict(settings.pop("params", {}) or {})
    if str(params.get("min_child_samples")).startswith("auto"):
        # large leaves resist the noise of many correlated weekly rows; on a short log they must still
        # be able to isolate a small pocket of converters (a rare but strong usage pattern). "auto:d": rows / d
        params["min_child_samples"] = min_child_samples(str(params["min_child_samples"]), n_rows)
    pos_weight = float(settings.pop("scale_pos_weight", 1.0))
    return method, stopping, {"scale_pos_weight": pos_weight, **params, **settings}


def min_child_samples(value: str, n_rows: int) -> int:
    """``auto`` (rows / 400, between 20 and 300) or ``auto:d`` (rows / d, between 20 and 120,000 / d).

    >>> min_child_samples("auto", 40_000), min_child_samples("auto:100", 40_000), min_child_samples("auto", 1_000)
    (100, 400, 20)
    """
    _, _, divisor = value.partition(":")
    d = float(divisor or 400)
    return int(np.clip(n_rows / d, 20, max(20.0, 120_000 / d)))


def probe_trees(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray,
                validation_share: float, weight: np.ndarray | None = None) -> TreeCount:
    """The number of trees for these rows: LightGBM learns from all but the newest ``validation_share`` of the
    snapshots and early stopping on the newest picks the count (the model's own parameters, sized for all rows)."""
    _, stopping, arguments = _lightgbm_settings(settings, len(y))
    val = validation_rows(snapshot, validation_share)
    if not (val.any() and len(np.unique(y[val])) == 2 and len(np.unique(y[~val])) == 2):
        return TreeCount(None, int(len(y)), stopping["default"])
    X = _for_lightgbm(X)
    probe = lgb.LGBMClassifier(n_estimators=stopping["n_max"], **arguments).fit(
        X[~val], y[~val], sample_weight=None if weight is None else weight[~val], eval_X=(X[val],), eval_y=(y[val],),
        eval_sample_weight=None if weight is None else [weight[val]], eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(stopping["rounds"], verbose=False)])
    return TreeCount(int(probe.best_iteration_ or stopping["n_max"]), int((~val).sum()), stopping["default"])


def fit_lightgbm(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray,
                 validation_share: float, weight: np.ndarray | None = None,
                 trees: TreeCount | None = None) -> LightGBMModel:
    """LightGBM on pandas categoricals. The newest snapshots pick the number of trees (early stopping,
    :func:`probe_trees`; ``trees``: a count picked before, e.g. by an earlier backtest fold, which saves the
    probe); the model is then fitted on every snapshot with that many trees, so no history is set aside."""
    method, _, arguments = _lightgbm_settings(settings, len(y))
    if trees is None:
        trees = probe_trees(settings, X, y, snapshot, validation_share, weight)
    clf = lgb.LGBMClassifier(n_estimators=trees.for_rows(len(y)), **arguments).fit(_for_lightgbm(X), y,
                                                                                   sample_weight=weight)
    return LightGBMModel(clf.booster_, list(X.columns), clf, method)


# -- choosing by config ------------------------------------------------------------------------

LOADERS = {"lightgbm": LightGBMModel.load, "logistic": LogisticModel.load}


MODELS = ("lightgbm", "logistic")


def fit_model(config: ModelConfig, X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray, categorical: list[str],
              validation_share: float = 0.2, weight: np.ndarray | None = None,
              trees: TreeCount | None = None, init: FittedModel | None = None) -> FittedModel:
    """Fit the configured estimator on every row (``snapshot``: each row's as-of, for early stopping;
    ``weight``: per-row weights, e.g. of down-sampled negatives; ``trees``: LightGBM's number of trees picked
    before, see :func:`probe_trees`; ``init``: a model of the same kind fitted before on older rows, where the
    logistic model's solver starts)."""
    if config.name == "lightgbm":
        return fit_lightgbm(config.settings, X, y, snapshot, validation_share, weight, trees)
    if config.name == "logistic":
        return fit_logistic(config.settings, X, y, categorical, weight,
                            init if isinstance(init, LogisticModel) else None)
    raise ConfigError(f"model.name: '{config.name}' is not one of {list(MODELS)}")


def load_model(kind: str, folder: Path, features: list[str]) -> FittedModel:
    """A saved model, checked against ``features`` (the spec's names, in order); ValueError when damaged."""
    if kind == "blend":
        return BlendModel.load(Path(folder), list(features), LOADERS)
    if kind not in LOADERS:
        raise ValueError(f"unknown model kind {kind!r} (expected one of {[*LOADERS, 'blend']})")
    return LOADERS[kind](Path(folder), list(features))
