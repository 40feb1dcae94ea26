"""Fixtures of the training tests: a small feature spec and a small table of rows to fit on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import Column, FeatureSpec

_SPEC = FeatureSpec(windows=(30,), columns=(
    Column("api_call_quantity_30d", "quantity", "usage", "total quantity of 'api call' in the last 30 days: {value}"),
    Column("events_count_30d", "count", "usage", "{value} product action{s} in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats: {value} of the plan limit used"),
    Column("industry", "category", "fit", "industry: {value}", categories=("software", "retail", "media")),
))


@pytest.fixture(scope="session")
def small_spec() -> FeatureSpec:
    """Four columns: API calls and product actions in the last 30 days, the seats ratio, the industry."""
    return _SPEC


@pytest.fixture(scope="module")
def rows():
    """3,000 rows of usage, seats and industry over 10 snapshots, converting by a known logit."""
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame({"usage": rng.poisson(3, n).astype(float), "seats": rng.integers(1, 50, n).astype(float),
                      "industry": pd.Categorical(rng.choice(["a", "b", "c", None], n))})
    logit = -3 + 0.5 * X["usage"] + (X["industry"] == "a") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    snapshot = np.repeat(np.arange(10), n // 10).astype("datetime64[D]").astype("datetime64[us]")
    return X, y, snapshot
