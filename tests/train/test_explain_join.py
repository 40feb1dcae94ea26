"""Reasons joined by Arrow are the strings a per-row ``"; ".join`` gives, row for row."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import Column, FeatureSpec
from train.explain import phrase, reasons, reasons_text

SPEC = FeatureSpec(windows=(30,), columns=(
    Column("active_users_30d", "count", "usage", "{value} users active in the last 30 days",
           zero="no users active in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats used at {value} of the plan limit"),
    Column("blank", "count", "usage", "", missing=""),  # a column whose phrase is empty: left out like no reason
    Column("industry", "category", "fit", "industry: {value}", ("fintech", "software"), missing="industry: unknown"),
))


def _per_row(contrib: pd.DataFrame, X: pd.DataFrame, n: int, must_have: np.ndarray | None) -> list[str]:
    """The reference: each row's top-n contributions worded one by one and joined in Python."""
    names = [c for c in contrib.columns if c in set(SPEC.names)]
    out = []
    for i in range(len(X)):
        values = contrib[names].iloc[i].to_numpy(dtype=float)
        order = sorted(range(len(names)), key=lambda j: -values[j])[:n]  # ties: the earlier column first
        keep = [j for rank, j in enumerate(order) if values[j] > 0 or (rank == 0 and must_have is not None
                                                                       and must_have[i])]
        out.append("; ".join(p for p in (phrase(SPEC.column(names[j]), X[names[j]].iloc[i]) for j in keep) if p))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_arrow_join_equals_the_per_row_join(n):
    rng = np.random.default_rng(n)
    rows = 300
    X = pd.DataFrame({
        "active_users_30d": rng.choice([0.0, 1.0, 2.0, 1234.0, np.nan], rows),
        "seats_used_ratio": rng.uniform(size=rows).round(2),
        "blank": rng.poisson(1, rows).astype(float),
        "industry": pd.Categorical(rng.choice(["fintech", "software", None], rows), categories=["fintech", "software"]),
    })
    # distinct values per row (no ties), a third of rows with nothing positive
    contrib = pd.DataFrame(rng.normal(size=(rows, 4)) + np.arange(4) * 1e-9, columns=list(X.columns))
    contrib.loc[rng.uniform(size=rows) < 0.33] = -np.abs(contrib) - 0.01
    contrib["bias"] = -3.0
    must = rng.uniform(size=rows) < 0.5
    for must_have in (None, must):
        expected = _per_row(contrib, X, n, must_have)
        assert reasons(contrib, X, SPEC, n=n, must_have=must_have) == expected
        assert "" in expected and any("; " in e for e in expected) == (n > 1)
        assert reasons_text(contrib, X, SPEC, n=n, must_have=must_have).to_pylist() == expected


def test_rows_without_any_reason_are_empty_strings_not_dropped():
    X = pd.DataFrame({"active_users_30d": [1.0, 2.0, 3.0], "seats_used_ratio": [0.1, 0.2, 0.3], "blank": [1.0] * 3,
                      "industry": pd.Categorical([None] * 3, categories=["fintech", "software"])})
    contrib = pd.DataFrame({"active_users_30d": [-1.0, 0.5, -1.0], "seats_used_ratio": [-1.0, -1.0, -1.0],
                            "blank": [2.0, -1.0, -1.0], "industry": [-1.0, -1.0, -1.0]})
    # row 0: its only reason has an empty phrase; rows 0 and 2: nothing to say
    assert reasons(contrib, X, SPEC) == ["", "2 users active in the last 30 days", ""]
