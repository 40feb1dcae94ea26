"""Features in, scores out (train.scorer): the pyfunc's input cast words each category once; the result is the
per-value cast's, value for value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import Column, FeatureSpec
from train.scorer import cast_input

SPEC = FeatureSpec(windows=(30,), columns=(
    Column("active_users_30d", "count", "usage", "{value} users active in the last 30 days"),
    Column("industry", "category", "fit", "industry: {value}", ("fintech", "software"), missing="industry: unknown"),
    Column("employees", "category", "fit", "{value} employees", ("10", "50")),
))


def _per_value(values: pd.Series) -> list:
    return [None if pd.isna(v) else (v if isinstance(v, str) else str(v)) for v in values.astype(object)]


def test_categoricals_are_text_or_none_whatever_their_dtype():
    frames = [
        pd.DataFrame({"active_users_30d": [1, 2, 3, 4],
                      "industry": pd.Categorical(["fintech", None, "software", "retail"],
                                                 categories=["retail", "fintech", "software", "unused"]),
                      "employees": pd.Categorical([10, 50, None, 10])}),  # numbers as categories
        pd.DataFrame({"active_users_30d": [1.0, np.nan, 3.0, 4.0],
                      "industry": pd.array(["fintech", None, "software", "x"], dtype="str"),
                      "employees": [10, 50, None, 10.0]}),
    ]
    for frame in frames:
        out = cast_input(frame, SPEC)
        assert list(out.columns) == SPEC.names
        for name in ("industry", "employees"):
            assert out[name].dtype == object
            assert out[name].tolist() == _per_value(frame[name])
        assert out["active_users_30d"].dtype == "float64"
    assert cast_input(frames[0], SPEC)["employees"].tolist() == ["10", "50", None, "10"]


def test_an_empty_frame_keeps_its_columns():
    frame = pd.DataFrame({"active_users_30d": pd.Series([], dtype="int64"),
                          "industry": pd.Categorical([], categories=["fintech"]),
                          "employees": pd.Categorical([])})
    out = cast_input(frame, SPEC)
    assert len(out) == 0 and list(out.columns) == SPEC.names and out["industry"].dtype == object
