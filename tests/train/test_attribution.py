"""Path attribution: exact in total, close to TreeSHAP, and it survives a save and a load."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from train.attribution import PathAttribution
from train.models import LightGBMModel, fit_lightgbm


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame(rng.poisson(2, size=(n, 6)).astype(float), columns=[f"f{i}" for i in range(6)])
    X["cat"] = pd.Categorical(rng.choice(list("abcd"), n))
    logit = -2 + 0.6 * X["f0"] - 0.4 * X["f1"] + 0.2 * X["f2"] * X["f3"] + (X["cat"] == "a") * 1.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    settings = {"n_estimators": 80, "early_stopping_rounds": 10, "params": {"num_leaves": 15, "verbosity": -1}}
    snapshot = np.repeat(np.arange(4), n // 4)  # four "weeks": the newest picks the number of trees
    return fit_lightgbm(settings, X, y, snapshot, 0.25), X


def test_contributions_sum_to_the_raw_score(model):
    fitted, X = model
    contrib = fitted.contributions(X)
    np.testing.assert_allclose(contrib.sum(axis=1), fitted.response(X), atol=1e-9)
    assert list(contrib.columns) == [*X.columns, "bias"]


def test_path_attribution_agrees_with_tree_shap_on_what_matters(model):
    fitted, X = model
    path = fitted.contributions(X).drop(columns="bias")
    shap = pd.DataFrame(fitted.booster.predict(X, pred_contrib=True)[:, :-1], columns=X.columns)
    for column in ("f0", "f1", "cat"):
        assert np.corrcoef(path[column], shap[column])[0, 1] > 0.9
    assert path.abs().mean().idxmax() == shap.abs().mean().idxmax()


def test_saved_and_loaded_model_gives_the_same_contributions(model, tmp_path):
    fitted, X = model
    fitted.save(tmp_path)
    loaded = LightGBMModel.load(tmp_path, list(X.columns))
    pd.testing.assert_frame_equal(loaded.contributions(X), fitted.contributions(X))


def test_a_constant_model_has_only_a_bias():
    X = pd.DataFrame({"x": np.arange(100.0)})
    booster = lgb.train({"objective": "binary", "verbosity": -1}, lgb.Dataset(X, np.r_[np.zeros(50), np.ones(50)]), 1)
    out = PathAttribution(booster)(X)
    np.testing.assert_allclose(out.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)
