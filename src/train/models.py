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
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.errors import ConfigError

from train.attribution import PathAttribution
from train.config import ModelConfig

class FittedModel(Protocol):
    kind: str
    features: list[str]

    @property
    def estimator(self) -> Any: ...

    def response(self, X: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame: ...

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]: ...

    def save(self, folder: Path) -> None: ...


# -- LightGBM ----------------------------------------------------------------------------------


CONTRIBUTIONS = ("path", "shap")


@dataclass
class LightGBMModel:
    booster: lgb.Booster
    features: list[str]
    classifier: lgb.LGBMClassifier | None = None
    contribution_method: str = "path"
    kind: str = "lightgbm"
    FILE = "model.lgb.txt"
    _paths: PathAttribution | None = field(default=None, repr=False)

    @property
    def estimator(self) -> lgb.LGBMClassifier:
        if self.classifier is None:
            raise RuntimeError("a loaded LightGBM model has no scikit-learn wrapper; calibrate before saving")
        return self.classifier

    def response(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(X[self.features], raw_score=True)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
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
        _check_names(path.name, [str(n) for n in booster.feature_name()], features, _lightgbm_name)
        return cls(booster, features, contribution_method=method)


def _lightgbm_name(name: str) -> str:
    # LightGBM stores feature names with spaces replaced by underscores (other characters as given)
    return str(name).replace(" ", "_")


def _check_names(what: str, own: list[str], features: list[str], normalise=str) -> None:
    """The model's own feature names are the spec's, in the same order (no swaps, gaps or extras)."""
    expected = [normalise(f) for f in features]
    if own == expected:
        return
    if len(own) != len(expected):
        raise ValueError(f"{what} has {len(own)} features but the feature spec names {len(expected)}")
    wrong = [(i, o, e) for i, (o, e) in enumerate(zip(own, expected)) if o != e]
    i, o, e = wrong[0]
    raise ValueError(f"the feature spec does not match {what}: {len(wrong)} feature name(s) differ, "
                     f"e.g. position {i} is '{e}' in the spec and '{o}' in the model")


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


def _validation_rows(snapshot: np.ndarray, share: float) -> np.ndarray:
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
    if params.get("min_child_samples") == "auto":
        # large leaves resist the noise of many correlated weekly rows; on a short log they must still
        # be able to isolate a small pocket of converters (a rare but strong usage pattern)
        params["min_child_samples"] = int(np.clip(n_rows / 400, 20, 300))
    pos_weight = float(settings.pop("scale_pos_weight", 1.0))
    return method, stopping, {"scale_pos_weight": pos_weight, **params, **settings}


def probe_trees(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray,
                validation_share: float, weight: np.ndarray | None = None) -> TreeCount:
    """The number of trees for these rows: LightGBM learns from all but the newest ``validation_share`` of the
    snapshots and early stopping on the newest picks the count (the model's own parameters, sized for all rows)."""
    _, stopping, arguments = _lightgbm_settings(settings, len(y))
    val = _validation_rows(snapshot, validation_share)
    if not (val.any() and len(np.unique(y[val])) == 2 and len(np.unique(y[~val])) == 2):
        return TreeCount(None, int(len(y)), stopping["default"])
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
    clf = lgb.LGBMClassifier(n_estimators=trees.for_rows(len(y)), **arguments).fit(X, y, sample_weight=weight)
    return LightGBMModel(clf.booster_, list(X.columns), clf, method)


# -- logistic regression -----------------------------------------------------------------------


@dataclass
class LogisticModel:
    pipeline: Pipeline
    features: list[str]
    categorical: list[str]
    means: np.ndarray = field(default_factory=lambda: np.empty(0))
    kind: str = "logistic"
    FILE = "model.skops"

    @property
    def estimator(self) -> Pipeline:
        return self.pipeline

    def response(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.decision_function(X[self.features])

    def _owners(self) -> list[str]:
        """The original feature behind each transformed column."""
        names = self.pipeline.named_steps["prep"].get_feature_names_out()
        owners = []
        for name in names:
            block, rest = name.split("__", 1)
            if block == "num":
                owners.append(rest.removeprefix("missingindicator_"))
            else:
                owners.append(max((c for c in self.categorical if rest.startswith(c + "_")), key=len))
        return owners

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        prep, clf = self.pipeline.named_steps["prep"], self.pipeline.named_steps["clf"]
        Xt = prep.transform(X[self.features])
        Xt = Xt.toarray() if hasattr(Xt, "toarray") else np.asarray(Xt)
        parts = (Xt - self.means) * clf.coef_[0]
        frame = pd.DataFrame(parts, index=X.index).T.groupby(np.array(self._owners())).sum().T
        out = frame.reindex(columns=self.features, fill_value=0.0)
        out["bias"] = float(clf.intercept_[0] + clf.coef_[0] @ self.means)
        return out

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``(response(X), contributions(X))``."""
        return self.response(X), self.contributions(X)

    def save(self, folder: Path) -> None:
        import skops.io as sio

        sio.dump(self.pipeline, Path(folder) / self.FILE)
        (Path(folder) / "logistic.json").write_text(json.dumps(
            {"categorical": self.categorical, "means": self.means.tolist()}))

    @classmethod
    def load(cls, folder: Path, features: list[str]) -> "LogisticModel":
        import skops.io as sio

        path = Path(folder) / cls.FILE
        untrusted = [t for t in sio.get_untrusted_types(file=path) if not t.startswith(("sklearn.", "numpy."))]
        if untrusted:
            raise ValueError(f"refusing to load {path}: it holds types outside scikit-learn/numpy: {untrusted}")
        pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        if not isinstance(pipeline, Pipeline) or set(pipeline.named_steps) != {"prep", "clf"}:
            raise ValueError(f"{path.name} does not hold this pipeline's logistic model")
        _check_names(path.name, [str(n) for n in getattr(pipeline, "feature_names_in_", [])], features)
        meta = json.loads((Path(folder) / "logistic.json").read_text())
        categorical = [str(c) for c in meta["categorical"]]
        if not set(categorical) <= set(features):
            raise ValueError("logistic.json names categorical features the feature spec does not have: "
                             f"{sorted(set(categorical) - set(features))[:5]}")
        means = np.asarray(meta["means"], dtype=float)
        width = len(pipeline.named_steps["clf"].coef_[0])
        if means.shape != (width,):
            raise ValueError(f"logistic.json holds {means.size} column means for a model of {width} columns")
        return cls(pipeline, features, categorical, means)


PREP_ROWS = 50_000  # rows the logistic model's imputer, scaler and one-hot encoder learn their statistics from
_FEW_ROWS = 20     # rows added to that sample for a numeric column it holds only missing or only observed values of


def fit_logistic(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, categorical: list[str],
                 weight: np.ndarray | None = None, init: LogisticModel | None = None) -> LogisticModel:
    """Median-imputed (with missing indicators), standardised numerics; one-hot categoricals
    (a missing category is a category of its own; an unseen one is all zeros). ``init``: a model fitted
    before on part of these rows (the previous backtest fold's); the solver starts from its coefficients."""
    numeric = [c for c in X.columns if c not in categorical]
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                          ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False), categorical),
    ])
    clf = LogisticRegression(C=float(settings.get("C", 0.1)), max_iter=int(settings.get("max_iter", 2000)),
                             class_weight=settings.get("class_weight"), warm_start=init is not None)
    # Medians, means, scales and category frequencies are settled long before the rows run out: on a big table
    # they are learned from a sample (scikit-learn's masked-array median alone took ~20 s on 430k rows); every
    # row is then transformed once and the classifier learns from all of them.
    prep.fit(_prep_sample(X, numeric))
    Xt = prep.transform(X)
    if init is not None:  # the same optimum, reached in a third of the steps (~80 -> ~30 on 200k rows)
        _start_from(clf, init, list(prep.get_feature_names_out()))
    clf.fit(Xt, y, sample_weight=weight)
    pipeline = Pipeline([("prep", prep), ("clf", clf)])
    # the population's means (down-sampled non-converting rows weigh 1/share): the reference of contributions
    means = np.asarray(np.average(Xt, axis=0, weights=weight)).ravel()
    return LogisticModel(pipeline, list(X.columns), categorical, means)


def _prep_sample(X: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """The rows the preprocessing learns from: all of them up to ``PREP_ROWS``, else the ``PREP_ROWS`` rows with the
    smallest hash of their index (the design's row labels: a fold and the production model share the rows they
    have in common). A numeric column missing somewhere but nowhere in the sample gets a few of its missing rows
    (so it keeps its missing indicator, as on the whole table), one observed nowhere in the sample a few of its
    observed rows (so it is imputed and scaled by real values, not passed through raw)."""
    if len(X) <= PREP_ROWS:
        return X
    order = np.argsort(pd.util.hash_array(X.index.to_numpy()), kind="stable")
    take = np.zeros(len(X), bool)
    take[order[:PREP_ROWS]] = True
    if numeric:
        na = X[numeric].isna().to_numpy()
        in_sample = na[take]
        for want, anywhere, sampled in ((True, na.any(axis=0), in_sample.any(axis=0)),
                                        (False, (~na).any(axis=0), (~in_sample).any(axis=0))):
            for j in np.flatnonzero(anywhere & ~sampled):
                take[order[np.flatnonzero(na[order, j] == want)[:_FEW_ROWS]]] = True
    return X[take]


def _start_from(clf: LogisticRegression, init: LogisticModel, names: list[str]) -> None:
    """Set ``clf``'s starting coefficients to ``init``'s, matched by transformed column name (a column ``init``
    lacks, e.g. a category first frequent enough now, starts at 0); scikit-learn's warm start begins there."""
    old = init.pipeline.named_steps["clf"]
    position = {n: i for i, n in enumerate(init.pipeline.named_steps["prep"].get_feature_names_out())}
    clf.coef_ = np.array([[old.coef_[0][position[n]] if n in position else 0.0 for n in names]])
    clf.intercept_ = old.intercept_.copy()


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
    if kind not in LOADERS:
        raise ValueError(f"unknown model kind {kind!r} (expected one of {list(LOADERS)})")
    return LOADERS[kind](Path(folder), list(features))
