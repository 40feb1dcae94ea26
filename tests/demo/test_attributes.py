"""The demo world's attribute history: today's accounts values are its latest values, the other tables stay the
same, and features at a past snapshot read the values as they were, not today's (the "as today" leak)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demo import DemoConfig, generate_demo
from features.build import build_features
from features.config import DataConfig, FeatureConfig
from features.data.load import load_tables
from features.plan import plan_features

SETTINGS = {"accounts": 400, "days": 200, "start": "2024-01-01"}


@pytest.fixture(scope="module")
def world():
    return generate_demo(DemoConfig(**SETTINGS))


def test_todays_accounts_values_are_the_latest_history_values(world):
    history = world.account_attributes.sort_values(["account_id", "attribute", "valid_from"], kind="stable")
    latest = history.groupby(["account_id", "attribute"]).tail(1).pivot(index="account_id", columns="attribute",
                                                                         values="value")
    accounts = world.accounts.set_index("account_id")
    for name in ("plan", "seat_limit", "employees"):
        assert (accounts[name].astype(str) == latest.loc[accounts.index, name]).all(), name
    assert set(history["attribute"]) == {"plan", "seat_limit", "employees"}
    first = history.groupby(["account_id", "attribute"])["valid_from"].min().groupby("account_id").min()
    assert (first.loc[accounts.index] == accounts["created_at"]).all()  # every history starts at signup


def test_the_history_changes_no_other_table(world):
    plain = generate_demo(DemoConfig(**SETTINGS, attribute_history=False))
    assert plain.account_attributes is None
    for name in ("events", "conversions", "touches"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(world, name))
    same = [c for c in plain.accounts.columns if c not in ("plan", "seat_limit", "employees")]
    pd.testing.assert_frame_equal(plain.accounts[same], world.accounts[same])
    signup = world.account_attributes.groupby(["account_id", "attribute"]).head(1).pivot(
        index="account_id", columns="attribute", values="value")
    assert (plain.accounts.set_index("account_id")["employees"].astype(str) == signup["employees"]).all()


def test_converted_companies_grow_after_converting(world):
    history = world.account_attributes
    paid = history[(history["attribute"] == "plan") & (history["value"] == "paid")].set_index("account_id")
    staff = history[history["attribute"] == "employees"]
    grew_later = staff[staff["account_id"].isin(paid.index)]
    after = grew_later["valid_from"].to_numpy() > paid.loc[grew_later["account_id"], "valid_from"].to_numpy()
    assert after.sum() > 0.3 * len(paid)


def test_a_feature_at_a_past_snapshot_reads_the_history_not_todays_value():
    tables, _ = load_tables(DataConfig(demo=SETTINGS))
    t = pd.Timestamp("2024-04-01")
    spec = plan_features(tables, t, FeatureConfig())
    frame = build_features(tables, [t], spec).set_index("account_id")
    world = generate_demo(DemoConfig(**SETTINGS))
    history = world.account_attributes
    staff = history[(history["attribute"] == "employees") & (history["valid_from"] < t)]
    as_they_were = staff.sort_values("valid_from").groupby("account_id")["value"].last().astype(float)
    today = world.accounts.set_index("account_id")["employees"].astype(float)
    eligible = frame.index
    moved = eligible[today.loc[eligible].to_numpy() != as_they_were.loc[eligible].to_numpy()]
    assert len(moved) >= 10  # accounts that grew after t: today's value would have leaked
    assert np.array_equal(frame.loc[moved, "employees"].to_numpy(), as_they_were.loc[moved].to_numpy())
    assert (frame.loc[moved, "employees"].to_numpy() != today.loc[moved].to_numpy()).all()
    plans = set(frame["plan"].dropna().astype(str))
    assert "paid" not in plans and "trial" in plans  # paid only after converting: never in a feature


def test_day_resolution_keeps_one_value_per_day_the_latest():
    world = generate_demo(DemoConfig(**SETTINGS, day_resolution=True))
    history = world.account_attributes
    assert (history["valid_from"] == history["valid_from"].dt.normalize()).all()
    assert not history.duplicated(["account_id", "attribute", "valid_from"]).any()
    latest = history.groupby(["account_id", "attribute"]).tail(1).pivot(index="account_id", columns="attribute",
                                                                         values="value")
    accounts = world.accounts.set_index("account_id")
    assert (accounts["plan"] == latest.loc[accounts.index, "plan"]).all()
    tables, _ = load_tables(DataConfig(demo={**SETTINGS, "day_resolution": True}))
    assert len(tables.attributes) == len(history)
