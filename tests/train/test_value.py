"""The amount model's predictions: categorical columns read by category equal the row-by-row lookup."""
from __future__ import annotations

import numpy as np
import pandas as pd

from train.value import AmountModel


def test_categories_looked_up_once_equal_the_row_by_row_lookup():
    model = AmountModel(numeric=("x",), mean=(0.5,), scale=(2.0,), coef=(0.1,),
                        levels={"industry": {"saas": 0.5, "retail": -0.2, "1": 0.3}}, intercept=1.0, smear=1.1,
                        low=0.0, high=1e9, n=100)
    rng = np.random.default_rng(0)
    values = rng.choice(["saas", "retail", "mining", "1", None], 5000)  # unseen and missing levels add nothing
    X = pd.DataFrame({"x": rng.normal(size=5000), "industry": pd.Categorical(values)})
    by_category = model.predict(X)
    by_row = model.predict(X.astype({"industry": object}))
    assert np.array_equal(by_category, by_row)
    missing, x = pd.isna(values), X["x"].to_numpy()
    z = np.sign(x) * np.log1p(np.abs(x))  # numeric columns are read on a signed log scale
    assert np.allclose(by_category[missing], np.exp(1.0 + (z[missing] - 0.5) / 2.0 * 0.1) * 1.1)
    saas = values == "saas"
    assert np.allclose(by_category[saas], np.exp(1.0 + (z[saas] - 0.5) / 2.0 * 0.1 + 0.5) * 1.1)


def test_numeric_columns_read_one_at_a_time_equal_the_matrix_form():
    rng = np.random.default_rng(1)
    n = 2000
    X = pd.DataFrame({"count": rng.poisson(4, n), "spend": rng.normal(0, 50, n),
                      "ratio": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n)), dtype="Float64")})
    X.loc[:5, "spend"] = [np.nan, np.inf, -np.inf, -0.0, 0.0, -3.0]
    model = AmountModel(numeric=("count", "spend", "ratio"), mean=(1.2, 0.1, -0.3), scale=(0.7, 2.5, 1.1),
                        coef=(0.4, -0.2, 0.9), intercept=2.0, smear=1.05, low=0.0, high=1e12, n=100)
    from train.value import _transform

    Z = _transform(X.to_numpy(dtype="float64", na_value=np.nan))  # missing and infinite values count as 0
    matrix = np.exp(2.0 + ((Z - np.asarray(model.mean)) / np.asarray(model.scale)) @ np.asarray(model.coef)) * 1.05
    assert np.allclose(model.predict(X), matrix, rtol=1e-13, atol=0)
