"""The blend (train.blend): the mean log-odds of LightGBM and the logistic model, additive contributions, and a
bundle round trip through the scorer's loader."""
from __future__ import annotations

import numpy as np
import pandas as pd

from train.blend import BlendModel
from train.config import ModelConfig
from train.models import fit_model, load_model


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                      "c": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b"])})
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["x"] * 1.5 - 2)))).astype(int)
    return X, y, np.repeat(np.arange(5), n // 5).astype("datetime64[D]")


def test_the_blend_is_the_mean_of_its_parts_and_its_contributions_add_up(tmp_path):
    X, y, snapshot = _data()
    trees = fit_model(ModelConfig("lightgbm", {"params": {"num_leaves": 4, "verbosity": -1}, "n_estimators": 50}),
                      X, y, snapshot, ["c"])
    linear = fit_model(ModelConfig("logistic"), X, y, snapshot, ["c"])
    blend = BlendModel(trees, linear, list(X.columns))
    raw = blend.response(X)
    assert np.allclose(raw, (trees.response(X) + linear.response(X)) / 2)
    both, contrib = blend.response_and_contributions(X)
    assert np.allclose(both, raw) and np.allclose(contrib.sum(axis=1), raw, atol=1e-6)
    blend.save(tmp_path)
    loaded = load_model("blend", tmp_path, list(X.columns))
    assert np.allclose(loaded.response(X), raw)


def test_a_blend_bundle_with_unknown_parts_is_refused(tmp_path):
    (tmp_path / "blend.json").write_text('{"trees": "xgboost", "linear": "logistic"}')
    try:
        load_model("blend", tmp_path, ["x"])
    except ValueError as exc:
        assert "blend.json" in str(exc)
    else:
        raise AssertionError("a blend of unknown parts loaded")
