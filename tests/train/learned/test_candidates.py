"""Candidate conditions from shallow trees (train.learned.candidates): category rates from codes equal those from text."""
from __future__ import annotations

import numpy as np

from features.spec import Column, FeatureSpec
from train.learned import candidates


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
