"""Work reused across the backtest's folds gives the models it gave before: the number of trees picked once
(probe_trees) and handed to a fit, the logistic pipeline transformed once, categorical rates from codes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import Column, FeatureSpec
from train.learned import candidates
from train.models import TreeCount, fit_lightgbm, fit_logistic, probe_trees

SETTINGS = {"params": {"learning_rate": 0.2, "num_leaves": 4, "min_child_samples": "auto", "n_jobs": 1,
                       "random_state": 1, "deterministic": True, "force_col_wise": True, "verbosity": -1},
            "n_estimators": 200, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame({"usage": rng.poisson(3, n).astype(float), "seats": rng.integers(1, 50, n).astype(float),
                      "industry": pd.Categorical(rng.choice(["a", "b", "c", None], n))})
    logit = -3 + 0.5 * X["usage"] + (X["industry"] == "a") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    snapshot = np.repeat(np.arange(10), n // 10).astype("datetime64[D]").astype("datetime64[us]")
    return X, y, snapshot


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


def test_the_logistic_pipeline_is_fitted_once_and_scores_as_a_pipeline_fit(rows):
    from sklearn.base import clone

    X, y, _ = rows
    model = fit_logistic({}, X, y, ["industry"])
    refit = clone(model.pipeline).fit(X, y)
    assert np.array_equal(model.response(X), refit.decision_function(X))
    assert np.allclose(model.means, np.asarray(refit.named_steps["prep"].transform(X).mean(axis=0)).ravel())


def test_category_rates_from_codes_equal_those_from_text(rows):
    X, y, _ = rows
    names = ["usage", "seats", "industry"]
    kinds = FeatureSpec(windows=(7,), columns=tuple(Column(n, k, "", "") for n, k in
                                                    zip(names, ("count", "numeric", "category"))))
    coded = candidates.encode(X, y, kinds, names)
    text = candidates.encode(X.astype({"industry": object}), y, kinds, names)
    assert np.array_equal(coded.matrix, text.matrix, equal_nan=True)
    assert coded.order.keys() == text.order.keys() == {"industry"}
    assert np.array_equal(coded.order["industry"][0], text.order["industry"][0])
    assert np.array_equal(coded.order["industry"][1], text.order["industry"][1])


def test_a_warm_started_logistic_reaches_the_cold_optimum_in_fewer_steps(rows):
    X, y, _ = rows
    older = fit_logistic({}, X.iloc[:2000], y[:2000], ["industry"])
    cold = fit_logistic({}, X, y, ["industry"])
    warm = fit_logistic({}, X, y, ["industry"], init=older)
    steps = [m.pipeline.named_steps["clf"].n_iter_[0] for m in (cold, warm)]
    assert steps[1] < steps[0]
    assert np.corrcoef(cold.response(X), warm.response(X))[0, 1] > 0.9999
    # the older model is left as it was (its coefficients were copied, not shared)
    assert older.pipeline.named_steps["clf"].coef_ is not warm.pipeline.named_steps["clf"].coef_


def test_a_warm_start_matches_columns_by_name_and_starts_new_ones_at_zero(rows):
    X, y, _ = rows
    fewer = X.assign(industry=X["industry"].cat.remove_categories(["c"]))  # 'c' is missing in the older model
    older = fit_logistic({}, fewer, y, ["industry"])
    warm = fit_logistic({}, X, y, ["industry"], init=older)
    names = list(warm.pipeline.named_steps["prep"].get_feature_names_out())
    assert "cat__industry_c" in names and "cat__industry_c" not in older.pipeline.named_steps["prep"].get_feature_names_out()
    assert np.isfinite(warm.response(X)).all()


def test_the_logistic_preprocessing_learns_from_a_sample_of_a_big_table(monkeypatch, rows):
    import train.logistic as models

    X, y, _ = rows
    full = fit_logistic({}, X, y, ["industry"])
    monkeypatch.setattr(models, "PREP_ROWS", 1000)
    sampled = fit_logistic({}, X, y, ["industry"])
    prep = sampled.pipeline.named_steps["prep"]
    assert prep.named_transformers_["num"].named_steps["scale"].n_samples_seen_ == 1000  # statistics: the sample
    # ... the classifier and the column means: every row
    assert np.allclose(sampled.means, np.asarray(prep.transform(X).mean(axis=0)).ravel())
    assert np.corrcoef(full.response(X), sampled.response(X))[0, 1] > 0.999


def test_the_preprocessing_sample_keeps_rare_missing_and_rare_observed_values_and_is_shared_by_overlapping_rows(
        monkeypatch, rows):
    import train.logistic as models

    X, y, _ = rows
    monkeypatch.setattr(models, "PREP_ROWS", 500)
    X = X.assign(rare_gap=X["usage"].where(np.arange(len(X)) % 1000 != 7),      # missing in 3 rows of 3000
                 rare_value=np.where(np.arange(len(X)) % 1000 == 9, 1e6, np.nan))  # observed in 3 rows only
    numeric = ["usage", "seats", "rare_gap", "rare_value"]
    sample = models._prep_sample(X, numeric)
    assert sample["rare_gap"].isna().any() and sample["rare_value"].notna().any()
    assert len(sample) <= 500 + 2 * models._FEW_ROWS
    # a row sampled from the whole table is sampled from any part of it that holds it (a fold's rows)
    whole, part = models._prep_sample(X, ["usage"]), models._prep_sample(X.iloc[:2500], ["usage"])
    assert len(whole) == len(part) == 500
    assert set(whole.index[whole.index < 2500]) <= set(part.index)
    model = fit_logistic({}, X, y, ["industry"])
    names = list(model.pipeline.named_steps["prep"].get_feature_names_out())
    assert "num__missingindicator_rare_gap" in names
    scaled = model.pipeline.named_steps["prep"].transform(X.head(10))
    assert np.abs(scaled).max() < 1e3  # the rare value was scaled by what it is, not passed through raw
