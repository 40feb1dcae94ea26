"""Fitting and loading models (train.models): the number of trees picked once (``probe_trees``) and handed to a
fit gives the model the fit would have made; a loaded model's feature names must match the spec.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from train.models import TreeCount, fit_lightgbm, probe_trees


SETTINGS = {"params": {"learning_rate": 0.2, "num_leaves": 4, "min_child_samples": "auto", "n_jobs": 1,
                       "random_state": 1, "deterministic": True, "force_col_wise": True, "verbosity": -1},
            "n_estimators": 200, "early_stopping_rounds": 10}


def test_a_count_picked_before_gives_the_model_the_fit_would_have_made(rows):
    X, y, snapshot = rows
    own = fit_lightgbm(SETTINGS, X, y, snapshot, 0.2)
    count = probe_trees(SETTINGS, X, y, snapshot, 0.2)
    given = fit_lightgbm(SETTINGS, X, y, snapshot, 0.2, trees=count)
    assert count.best is not None and own.booster.num_trees() == count.for_rows(len(y))
    assert given.booster.model_to_string() == own.booster.model_to_string()


def test_a_count_scales_with_rows_up_to_a_quarter_more():
    count = TreeCount(best=100, rows=800)
    assert [count.for_rows(n) for n in (400, 800, 1000, 5000)] == [50, 100, 125, 125]
    assert TreeCount(None, 800, default=77).for_rows(10_000) == 77


def test_logistic_feature_names_are_checked(tmp_path):
    import numpy as np
    import pandas as pd

    from train.models import fit_logistic, load_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                      "c": pd.Categorical(rng.choice(["x", "y"], size=200))})
    y = (X["a"] > 0).astype(int).to_numpy()
    fit_logistic({}, X, y, ["c"]).save(tmp_path)
    assert load_model("logistic", tmp_path, ["a", "b", "c"]).features == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature spec does not match model.skops"):
        load_model("logistic", tmp_path, ["b", "a", "c"])


def test_a_column_name_lightgbm_refuses_is_learned_under_a_safe_name_and_shown_under_its_own(rows, tmp_path):
    from train.models import load_model

    X, y, snapshot = rows
    odd = {c: f'{c} (count, "self-reported") [x]: {{y}}' for c in X.columns}
    Xo = X.rename(columns=odd)
    model = fit_lightgbm(SETTINGS, Xo, y, snapshot, 0.2)
    plain = fit_lightgbm(SETTINGS, X, y, snapshot, 0.2)
    assert model.features == list(Xo.columns) and list(Xo.columns) == list(odd.values())  # the input is untouched
    np.testing.assert_array_equal(model.response(Xo), plain.response(X))  # a name changes nothing learned
    assert list(model.contributions(Xo).columns) == [*Xo.columns, "bias"]
    model.save(tmp_path)
    loaded = load_model("lightgbm", tmp_path, list(Xo.columns))
    np.testing.assert_array_equal(loaded.response(Xo), model.response(Xo))
