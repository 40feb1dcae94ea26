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
