"""Candidate conditions from shallow trees (train.learned.candidates): category rates from codes equal those from text."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import OTHER, Column, FeatureSpec
from train.learned import candidates
from train.learned.rules import Condition


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


def _encoded(categories: list[str], max_values: int = 5) -> candidates.Encoded:
    rates = np.linspace(0, 1, len(categories))
    return candidates.Encoded(np.zeros((0, 0), np.float32), [], {}, {}, {"c": (np.array(categories, object), rates)},
                              max_values)


def test_a_category_condition_is_in_a_few_values_not_in_the_few_left_out_or_not_offered():
    """Issue 19: at most ``learned.max_values`` values; ``(other)`` is never one of them."""
    cats = [f"v{i:02d}" for i in range(23)]
    enc = _encoded([*cats, OTHER])
    assert candidates._category_condition("c", {"v01", "v02", OTHER}, enc) == Condition("c", "in", ("v01", "v02"))
    keep = set(cats[3:]) | {OTHER}
    assert candidates._category_condition("c", keep, enc) == Condition("c", "not in", ("v00", "v01", "v02"))
    assert candidates._category_condition("c", set(cats[:12]), enc) is None  # 12 in, 11 out: no condition
    assert candidates._category_condition("c", {OTHER}, enc) is False  # only (other): nothing a rule can name
    assert candidates._category_condition("c", set(cats), enc) is None  # every named value
    assert candidates._category_condition("c", set(cats[:3]), _encoded(cats, 2)) is None


def test_identifier_like_columns():
    """Hex or uuid-like values, more than 50 values, or a spec column with lifts: a column of identifiers."""
    hexes = pd.Series(pd.Categorical(["7fa6214d82e911d070f51ef79381b956", "0c2b1e3f4a5d6e7f8a9b0c1d2e3f4a5b", OTHER]))
    country = pd.Series(pd.Categorical(["DE", "FR", OTHER, None]))
    many = pd.Series([f"word{i}" for i in range(60)], dtype=object)
    assert candidates.identifier_like(None, hexes) and candidates.identifier_like(None, many)
    assert not candidates.identifier_like(None, country)
    lifted = Column("country", "category", "fit", "country: {value}", ("DE", "FR"), lifts=(1.2, 0.8))
    assert candidates.identifier_like(lifted, country)
    X = pd.DataFrame({"hex": hexes, "country": country.iloc[:3], "n": [1.0, 2.0, 3.0]})
    spec = FeatureSpec(windows=(7,), columns=(Column("hex", "category", "fit", ""),
                                              Column("country", "category", "fit", ""), Column("n", "numeric", "fit", "")))
    assert candidates.usable(X, spec) == ["country", "n"]
