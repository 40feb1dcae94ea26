"""Expected value (train.value): the amount model's predictions (categorical columns read by category equal
the row-by-row lookup), its fit and round trip, amounts per row and revenue at capacity.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from train.value import AmountModel, revenue_table, row_amounts


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


def test_amount_model_predicts_amounts_from_features_and_round_trips(small_spec):
    rng = np.random.default_rng(1)
    n = 400
    X = pd.DataFrame({"api_call_quantity_30d": rng.exponential(40, n), "events_count_30d": rng.exponential(20, n),
                      "seats_used_ratio": rng.uniform(0, 1, n),
                      "industry": pd.Categorical(rng.choice(["software", "retail", "media"], n))})
    amount = 1000 * (1 + X["events_count_30d"].to_numpy() / 10) * np.where(X["industry"] == "software", 2, 1)
    model = AmountModel.fit(X, np.where(rng.random(n) < 0.5, amount, np.nan), small_spec)
    predicted = model.predict(X)
    assert np.corrcoef(np.log(predicted), np.log(amount))[0, 1] > 0.9
    assert np.allclose(AmountModel.from_dict(model.to_dict()).predict(X), predicted)
    few = AmountModel.fit(X.head(5), amount[:5], small_spec)
    assert np.allclose(few.predict(X), np.median(amount[:5]))


def test_row_amounts_and_revenue_at_capacity():
    frame = pd.DataFrame({"account_id": ["a", "b", "c", "a"], "label": [1, 0, 1, 0]})
    conversions = pd.DataFrame({"account_id": ["a", "c"], "converted_at": pd.to_datetime(["2024-02-01", "2024-03-01"]),
                                "amount": [100.0, 300.0]})
    assert np.allclose(row_amounts(frame, conversions), [100, np.nan, 300, np.nan], equal_nan=True)
    assert row_amounts(frame, conversions.drop(columns="amount")) is None
    test = pd.DataFrame({"as_of": ["w1"] * 4, "label": [1, 0, 1, 0], "log_odds": [4.0, 3.0, 2.0, 1.0],
                         "expected_value": [10.0, 1.0, 200.0, 0.0], "rule_a": [False, True, True, False]})
    table = revenue_table(test, np.array([100.0, np.nan, 300.0, np.nan]), capacity_per_week=1, every_days=7)
    row = table.set_index("name")
    assert row.loc["a", "revenue"] == 300 and row.loc["a", "revenue_per_week_at_capacity"] == 150  # 1 of its 2 calls
    assert row.loc["model", "revenue_per_week_at_capacity"] == 300  # ranks by expected value
    assert row.loc["model (by probability)", "revenue_per_week_at_capacity"] == 100
