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

from .attribution import PathAttribution
from .settings import ModelConfig

class FittedModel(Protocol):
    kind: str
    features: list[str]

    @property
    def estimator(self) -> Any: ...

    def response(self, X: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame: ...

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
            if self._paths is None:
                self._paths = PathAttribution(self.booster)
            values = self._paths(X[self.features])
        return pd.DataFrame(values, columns=[*self.features, "bias"], index=X.index)

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(Path(folder) / self.FILE))
        (Path(folder) / "lightgbm.json").write_text(json.dumps({"contributions": self.contribution_method}))

    @classmethod
    def load(cls, folder: Path, features: list[str]) -> "LightGBMModel":
        meta = json.loads((Path(folder) / "lightgbm.json").read_text())
        return cls(lgb.Booster(model_file=str(Path(folder) / cls.FILE)), features,
                   contribution_method=meta["contributions"])


def fit_lightgbm(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame,
                 y_val: np.ndarray) -> LightGBMModel:
    """LightGBM on pandas categoricals, early-stopped on the (newer) validation snapshots."""
    settings = dict(settings)
    method = str(settings.pop("contributions", "path"))
    if method not in CONTRIBUTIONS:
        raise ConfigError(f"model.contributions: '{method}' is not one of {CONTRIBUTIONS}")
    rounds = int(settings.pop("early_stopping_rounds", 50))
    params = dict(settings.pop("params", {}) or {})
    clf = lgb.LGBMClassifier(n_estimators=int(settings.pop("n_estimators", 1000)),
                             scale_pos_weight=float(settings.pop("scale_pos_weight", 1.0)), **params, **settings)
    clf.fit(X, y, eval_X=(X_val,), eval_y=(y_val,), eval_metric="binary_logloss",
            callbacks=[lgb.early_stopping(rounds, verbose=False)])
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
        meta = json.loads((Path(folder) / "logistic.json").read_text())
        return cls(pipeline, features, meta["categorical"], np.asarray(meta["means"]))


def fit_logistic(settings: dict[str, Any], X: pd.DataFrame, y: np.ndarray, categorical: list[str]) -> LogisticModel:
    """Median-imputed (with missing indicators), standardised numerics; one-hot categoricals
    (a missing category is a category of its own; an unseen one is all zeros)."""
    numeric = [c for c in X.columns if c not in categorical]
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                          ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False), categorical),
    ])
    clf = LogisticRegression(C=float(settings.get("C", 0.1)), max_iter=int(settings.get("max_iter", 2000)),
                             class_weight=settings.get("class_weight"))
    pipeline = Pipeline([("prep", prep), ("clf", clf)])
    pipeline.fit(X, y)
    Xt = prep.transform(X)
    means = np.asarray(Xt.mean(axis=0)).ravel()
    return LogisticModel(pipeline, list(X.columns), categorical, means)


# -- choosing by config ------------------------------------------------------------------------

LOADERS = {"lightgbm": LightGBMModel.load, "logistic": LogisticModel.load}


def fit_model(config: ModelConfig, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray,
              categorical: list[str]) -> FittedModel:
    """Fit the configured estimator (validation data drives early stopping where the model has it)."""
    if config.name == "lightgbm":
        return fit_lightgbm(config.settings, X, y, X_val, y_val)
    if config.name == "logistic":
        # no early stopping: the validation snapshots join the training data
        return fit_logistic(config.settings, pd.concat([X, X_val]), np.concatenate([y, y_val]), categorical)
    raise ConfigError(f"model.name: '{config.name}' is not one of {sorted(LOADERS)}")


def load_model(kind: str, folder: Path, features: list[str]) -> FittedModel:
    return LOADERS[kind](Path(folder), features)
