"""Path attribution (train.attribution): exact in total, close to TreeSHAP, it survives a save and a load, and
its vectorised tree walk is LightGBM's own prediction, bit for bit.
"""
from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import train.attribution as attribution
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


def _train(X: pd.DataFrame, y: np.ndarray, **params) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 4, "learning_rate": 0.2, "min_data_in_leaf": 5, "verbosity": -1,
            "max_cat_to_onehot": 2, "cat_smooth": 1, "min_data_per_group": 5, "deterministic": True}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=40)


def _world(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "count": rng.poisson(2, n).astype(float),
        "gappy": np.where(rng.uniform(size=n) < 0.3, np.nan, rng.normal(size=n)),  # NaN: missing type NaN
        "signed": rng.normal(size=n).round(1),
        "sparse": np.where(rng.uniform(size=n) < 0.5, 0.0, rng.exponential(size=n)),
    })
    X["cat"] = pd.Categorical(rng.choice(list("abcdefg"), n))
    X["cat2"] = pd.Categorical(np.where(rng.uniform(size=n) < 0.2, None, rng.choice(list("xyz"), n)))
    logit = (-1 + 0.5 * X["count"] - np.nan_to_num(X["gappy"], nan=1.5) + X["signed"] * X["sparse"]
             + X["cat"].isin(["a", "c", "f"]) * 1.2 - X["cat2"].isna() * 0.8)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


def _awkward(X: pd.DataFrame, booster: lgb.Booster, n: int = 400, seed: int = 1) -> np.ndarray:
    """Rows as LightGBM's matrix, with every kind of awkward value mixed into every column."""
    from lightgbm.basic import _data_from_pandas

    values = _data_from_pandas(X.iloc[:n], "auto", "auto", booster.pandas_categorical)[0].copy()
    thresholds = [float(t) for t in _thresholds(booster)]
    specials = np.array([np.nan, 0.0, -0.0, 1e-40, -1e-40, 1e-30, np.inf, -np.inf, -1.0, -0.5, 0.5, 2.7, 1e12,
                         *thresholds])
    rng = np.random.default_rng(seed)
    mask = rng.uniform(size=values.shape) < 0.35
    values[mask] = rng.choice(specials, mask.sum())
    return values


def _thresholds(booster: lgb.Booster) -> list[float]:
    out = []

    def walk(node):
        if "split_feature" in node:
            if node["decision_type"] == "<=":
                out.append(node["threshold"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def _by_leaves(booster: lgb.Booster) -> PathAttribution:
    paths = PathAttribution(booster)
    paths.walkable = False  # leaves from LightGBM's pred_leaf
    return paths


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"use_missing": False}],
                         ids=["nan-missing", "zero-missing", "no-missing"])
def test_the_walk_is_lightgbms_prediction_bit_for_bit(world, params):
    X, y = world
    booster = _train(X, y, **params)
    for values in (_awkward(X, booster), X):
        paths = PathAttribution(booster)
        assert paths.walkable
        raw, contrib = paths.score(values)
        expected = booster.predict(values, raw_score=True)
        assert np.array_equal(raw, expected)  # exact, not close
        raw_leaf, contrib_leaf = _by_leaves(booster).score(values)
        assert np.array_equal(raw_leaf, expected)
        assert np.array_equal(contrib, contrib_leaf)
        np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-12)


def test_every_kind_of_split_is_exercised(world):
    X, y = world
    kinds = set()
    for params in ({}, {"zero_as_missing": True}):
        kinds |= {(s.categorical, s.missing, s.default_left) for t in PathAttribution(_train(X, y, **params)).trees
                  for s in t.splits}
    # numeric splits under each missing type, NaN and zero on either side; categorical splits with and without NaN
    assert {(False, "NaN", False), (False, "NaN", True), (False, "Zero", False), (False, "Zero", True),
            (False, "None", True), (True, "NaN", False), (True, "None", False)} <= kinds


def test_blocks_and_threads_do_not_change_a_value(world, monkeypatch):
    X, y = world
    booster = _train(X, y)
    raw, contrib = PathAttribution(booster, threads=1).score(X)
    monkeypatch.setattr(attribution, "BLOCK", 97)
    for threads in (1, 2):
        raw_b, contrib_b = PathAttribution(booster, threads=threads).score(X)
        assert np.array_equal(raw_b, raw) and np.array_equal(contrib_b, contrib)


def test_large_trees_take_their_leaves_from_lightgbm(world):
    X, y = world
    booster = _train(X, y, num_leaves=31)
    paths = PathAttribution(booster)
    assert not paths.walkable
    raw, contrib = paths.score(X)
    assert np.array_equal(raw, booster.predict(X, raw_score=True))
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-12)


def test_a_walk_that_disagrees_with_lightgbm_falls_back_to_its_leaves(world, caplog):
    X, y = world
    booster = _train(X, y)
    paths = PathAttribution(booster)
    tree = next(i for i, t in enumerate(paths.trees) if t.splits and not t.splits[0].categorical)
    broken = paths.trees[tree].splits[0]
    # a walk that misreads one threshold (as a LightGBM release with other rules would) is caught
    paths.trees[tree] = attribution.replace(paths.trees[tree], splits=(
        attribution.replace(broken, threshold=broken.threshold - 1.0), *paths.trees[tree].splits[1:]))
    with caplog.at_level(logging.WARNING, logger="pql"):
        raw, contrib = paths.score(X)
    assert "differs from LightGBM" in caplog.text
    assert np.array_equal(raw, booster.predict(X, raw_score=True))
    assert np.array_equal(contrib, _by_leaves(booster).score(X)[1])


def test_no_rows():
    X, y = _world(200)
    booster = _train(X, y)
    raw, contrib = PathAttribution(booster).score(X.iloc[:0])
    assert raw.shape == (0,) and contrib.shape == (0, X.shape[1] + 1)
