"""The logistic baseline (``model=logistic``): median-imputed numerics with missing indicators, standardised,
one-hot categoricals, and a logistic regression -- a scikit-learn pipeline saved with skops (only
scikit-learn and numpy types, checked on load). Its contributions are ``coef * (x - mean)`` summed back
onto the original feature.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from train.bundle import check_names


@dataclass
class LogisticModel:
    """A logistic regression pipeline (impute, scale, one-hot) on the spec's features."""

    pipeline: Pipeline
    features: list[str]
    categorical: list[str]
    means: np.ndarray = field(default_factory=lambda: np.empty(0))
    kind: str = "logistic"
    FILE = "model.skops"

    @property
    def estimator(self) -> Pipeline:
        """The scikit-learn pipeline."""
        return self.pipeline

    def response(self, X: pd.DataFrame) -> np.ndarray:
        """The decision function (log-odds) for each row."""
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

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        """The rows as the classifier sees them (imputed, scaled, one-hot), dense."""
        Xt = self.pipeline.named_steps["prep"].transform(X[self.features])
        return Xt.toarray() if hasattr(Xt, "toarray") else np.asarray(Xt)

    def _contributions(self, Xt: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """Coefficient x centred value of transformed rows, summed onto their features by one matrix product
        (a transposed groupby took ~1 s per 300k rows), plus ``bias``."""
        clf = self.pipeline.named_steps["clf"]
        position = {name: j for j, name in enumerate(self.features)}
        owners = np.array([position[o] for o in self._owners()], dtype=np.int64)
        onto = np.zeros((len(owners), len(self.features)))
        onto[np.arange(len(owners)), owners] = 1.0
        out = pd.DataFrame(((Xt - self.means) * clf.coef_[0]) @ onto, columns=self.features, index=index)
        out["bias"] = float(clf.intercept_[0] + clf.coef_[0] @ self.means)
        return out

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's share of the log-odds (coefficient x centred value, summed per feature), plus ``bias``."""
        return self._contributions(self._transform(X), X.index)

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``(response(X), contributions(X))``, the rows transformed once."""
        Xt = self._transform(X)
        return self.pipeline.named_steps["clf"].decision_function(Xt), self._contributions(Xt, X.index)

    def save(self, folder: Path) -> None:
        """Write the pipeline with skops (``model.skops``) and its column means (``logistic.json``)."""
        import skops.io as sio

        sio.dump(self.pipeline, Path(folder) / self.FILE)
        (Path(folder) / "logistic.json").write_text(json.dumps(
            {"categorical": self.categorical, "means": self.means.tolist()}))

    @classmethod
    def load(cls, folder: Path, features: list[str]) -> "LogisticModel":
        """The saved pipeline, refused unless it holds only scikit-learn/numpy types and this pipeline's shape."""
        import skops.io as sio

        path = Path(folder) / cls.FILE
        untrusted = [t for t in sio.get_untrusted_types(file=path) if not t.startswith(("sklearn.", "numpy."))]
        if untrusted:
            raise ValueError(f"refusing to load {path}: it holds types outside scikit-learn/numpy: {untrusted}")
        pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        if not isinstance(pipeline, Pipeline) or set(pipeline.named_steps) != {"prep", "clf"}:
            raise ValueError(f"{path.name} does not hold this pipeline's logistic model")
        check_names(path.name, [str(n) for n in getattr(pipeline, "feature_names_in_", [])], features)
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


