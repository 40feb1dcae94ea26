"""The logistic baseline (train.logistic): fitted once and scored as a pipeline fit, warm starts, the preprocessing sample."""
from __future__ import annotations

import numpy as np

from train.models import fit_logistic


def test_the_logistic_pipeline_is_fitted_once_and_scores_as_a_pipeline_fit(rows):
    from sklearn.base import clone

    X, y, _ = rows
    model = fit_logistic({}, X, y, ["industry"])
    refit = clone(model.pipeline).fit(X, y)
    assert np.array_equal(model.response(X), refit.decision_function(X))
    assert np.allclose(model.means, np.asarray(refit.named_steps["prep"].transform(X).mean(axis=0)).ravel())


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
