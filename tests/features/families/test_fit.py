"""The fit family (features.families.fit): identifier-like values, the conversion lift of such a column's
categories (what a reason says instead of the value), and the column's readable name."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.data.load import load_frames
from features.families.fit import LIFT_MIN_ACCOUNTS, MANY_VALUES, id_like_value, lifts
from features.plan import plan_features
from features.spec import OTHER, FeatureSpec

T = pd.Timestamp("2024-03-01").as_unit("us")


def _tables(pages: list[str], converts: np.ndarray, **columns):
    n = len(pages)
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(n)], "created_at": T - pd.Timedelta(days=60),
                             "landing_page_id": pages, **columns}).astype({"created_at": "datetime64[us]"})
    events = pd.DataFrame({"account_id": accounts["account_id"], "event": "Task Created",
                           "timestamp": T - pd.Timedelta(days=50)}).astype({"timestamp": "datetime64[us]"})
    conversions = pd.DataFrame({"account_id": accounts["account_id"][converts],
                                "converted_at": T - pd.Timedelta(days=10)}).astype({"converted_at": "datetime64[us]"})
    return load_frames({"accounts": accounts, "events": events, "conversions": conversions})[0]


def test_identifier_like_values():
    hexes = [hashlib.md5(str(i).encode()).hexdigest() for i in range(5)]
    assert all(id_like_value(h) for h in hexes) and id_like_value(hexes[0].upper())
    assert id_like_value("123e4567-e89b-12d3-a456-426614174000") and id_like_value("{123e4567-e89b-12d3-a456-426614174000}")
    assert not any(id_like_value(v) for v in ("fintech", "North", "EMEA", "2024", "deadbeef", "Series A", "50-200"))


def test_a_column_of_many_hex_ids_gets_the_lift_of_each_kept_category():
    rng = np.random.default_rng(0)
    ids = [hashlib.md5(str(i).encode()).hexdigest() for i in range(500)]
    pages = [ids[0]] * 60 + [ids[1]] * 60 + list(rng.choice(ids[2:], 1880))
    converts = np.r_[np.ones(30, bool), np.zeros(30, bool), np.zeros(60, bool), rng.uniform(size=1880) < 0.1]
    spec = plan_features(_tables(pages, converts), T, FeatureConfig(windows=(7,)))
    col = spec.column("landing_page_id")
    assert set(col.categories[:2]) == {ids[0], ids[1]} and col.categories[-1] == OTHER and len(col.categories) > MANY_VALUES
    by_page = dict(zip(col.categories, col.lifts))
    assert by_page[ids[0]] > 3 and by_page[ids[1]] < 0.5 and by_page[OTHER] is None
    # a category of few accounts says nothing: too few to tell a rate
    assert all(lift is None for cat, lift in by_page.items() if (np.array(pages) == cat).sum() < LIFT_MIN_ACCOUNTS)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec  # the lifts travel with the model


def test_a_column_of_few_words_has_no_lifts_and_a_label_names_it():
    pages = ["google", "newsletter", "partner"] * 20
    spec = plan_features(_tables(pages, np.arange(60) % 4 == 0, amount_req=np.linspace(1e4, 5e4, 60)), T,
                         FeatureConfig(windows=(7,), labels={"amount_req": "amount requested"}))
    assert spec.column("landing_page_id").lifts is None
    assert spec.column("landing_page_id").text == "landing page id: {value}"
    assert spec.column("amount_req").text == "amount requested: {value}"
    assert spec.column("amount_req").missing == "amount requested: unknown"
    assert spec.labels == {"amount_req": "amount requested"}


def test_lifts_need_enough_accounts_and_a_conversion():
    values = pd.Series(["a"] * 40 + ["b"] * 5)
    assert lifts(values, np.zeros(45, bool), ["a", "b"]) == (None, None)
    assert lifts(values, np.r_[np.ones(20), np.zeros(25)].astype(bool), ["a", "b", OTHER])[1:] == (None, None)
