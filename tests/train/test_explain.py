"""Reasons a sales rep reads: the largest positive contributions, worded with their values."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import Column, FeatureSpec
from train.explain import reasons

SPEC = FeatureSpec(windows=(30,), columns=(
    Column("active_users_30d", "count", "usage", "{value} users active in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats used at {value} of the plan limit"),
    Column("days_to_first_api_call", "days", "usage", "first 'api call' {value} days after signup",
           missing="no 'api call' yet"),
    Column("industry", "category", "fit", "industry: {value}", ("fintech", "software"), missing="industry: unknown"),
))


def test_top_positive_contributions_in_order_with_values():
    X = pd.DataFrame({"active_users_30d": [14.0, 2.0], "seats_used_ratio": [0.9, 0.1],
                      "days_to_first_api_call": [3.0, np.nan],
                      "industry": pd.Categorical(["fintech", None], categories=["fintech", "software"])})
    contrib = pd.DataFrame({"active_users_30d": [0.8, -0.1], "seats_used_ratio": [0.3, -0.2],
                            "days_to_first_api_call": [-0.5, 0.4], "industry": [0.5, 0.1], "bias": [-3.0, -3.0]})
    out = reasons(contrib, X, SPEC, n=2)
    assert out[0] == "14 users active in the last 30 days; industry: fintech"
    assert out[1] == "no 'api call' yet; industry: unknown"  # only positive pushes, missing values worded


def test_no_positive_push_gives_no_reason():
    X = pd.DataFrame({"active_users_30d": [1.0], "seats_used_ratio": [0.0], "days_to_first_api_call": [1.0],
                      "industry": pd.Categorical(["software"], categories=["fintech", "software"])})
    contrib = pd.DataFrame({c: [-0.1] for c in X.columns} | {"bias": [-2.0]})
    assert reasons(contrib, X, SPEC) == [""]
