"""Tiers: tier 1 sized by sales capacity; no fit attributes -> fit unknown, intent-only tiers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import Column, FeatureSpec
from train.config import TierConfig
from train.tiers import Tiers

SPEC = FeatureSpec(windows=(7,), columns=(Column("usage", "count", "usage", "{value}"),
                                          Column("size", "numeric", "fit", "{value}")))


def contributions(n: int, fit_scale: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"usage": rng.normal(size=n), "size": fit_scale * rng.normal(size=n), "bias": -3.0})


def test_tier_one_holds_the_weekly_capacity_on_the_reference_snapshots():
    contrib = contributions(4000, 1.0)
    snapshot = np.repeat(np.arange(4), 1000)  # four weekly snapshots of 1000 eligible accounts
    tiers = Tiers.fit(contrib, snapshot, SPEC, TierConfig(), capacity=50)
    assigned = tiers.assign(contrib, SPEC)
    per_week = (assigned["pql_tier"] == 1).groupby(snapshot).sum()
    assert abs(per_week.mean() - 50) <= 1
    # tier 1 = high intent and good fit; 3 = high intent, fit not good; 2 = good fit, intent not high
    high, good = assigned["intent_tier"] == "high", assigned["fit_tier"] == "good"
    assert ((assigned["pql_tier"] == 1) == (high & good)).all()
    assert ((assigned["pql_tier"] == 3) == (high & ~good)).all()
    assert Tiers.from_dict(tiers.to_dict()) == tiers


def test_without_fit_attributes_fit_is_unknown_and_tiers_use_intent_only():
    contrib = contributions(2000, 0.0)  # the model gives fit no weight at all
    snapshot = np.repeat(np.arange(2), 1000)
    tiers = Tiers.fit(contrib, snapshot, SPEC, TierConfig(), capacity=30)
    assigned = tiers.assign(contrib, SPEC)
    assert not tiers.fit_known
    assert (assigned["fit_tier"] == "unknown").all() and assigned["fit_score"].isna().all()
    assert set(assigned["pql_tier"].dropna().unique()) == {1}
    assert abs((assigned["pql_tier"] == 1).sum() / 2 - 30) <= 1


def test_a_fixed_percentile_still_works():
    contrib = contributions(1000, 1.0)
    tiers = Tiers.fit(contrib, np.zeros(1000), SPEC, TierConfig(high_intent=0.9), capacity=50)
    assert abs((tiers.assign(contrib, SPEC)["intent_tier"] == "high").mean() - 0.1) < 0.01
