"""Reasons a sales rep can read: the signals that raised an account's score most, with their values.

They come from the model's own per-feature contributions (log-odds): the largest positive ones,
worded with the feature's template from the spec, e.g. ``"14 users active in the last 30 days"``
or ``"industry: fintech"``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import Column, FeatureSpec


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def format_value(column: Column, value: object) -> str:
    """A value as a person would say it, by the kind of feature."""
    if column.kind == "category":
        return str(value)
    v = float(value)
    if column.kind == "ratio" and column.name.endswith("_used_ratio"):
        return f"{v:.0%}"
    if column.kind == "ratio":
        return f"{v:+.0%}"
    if column.kind in ("count", "days"):
        return f"{v:,.0f}"
    return f"{v:,.4g}"


def phrase(column: Column, value: object) -> str:
    """One reason: the column's sentence with its value (or its sentence for a missing value)."""
    if _missing(value):
        return column.missing or f"{column.name}: unknown"
    return column.text.format(value=format_value(column, value))


def reasons(contrib: pd.DataFrame, X: pd.DataFrame, spec: FeatureSpec, n: int = 3) -> list[str]:
    """Per row, up to ``n`` phrases for the features that pushed the score up most, joined by "; "."""
    names = [c for c in contrib.columns if c != "bias"]
    values = contrib[names].to_numpy()
    k = min(n, len(names))
    if k == 0:
        return [""] * len(values)
    top = np.argpartition(-values, k - 1, axis=1)[:, :k]  # the k largest, unordered
    order = np.argsort(-np.take_along_axis(values, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    positive = np.take_along_axis(values, top, axis=1) > 0
    phrases = np.full(top.shape, "", dtype=object)
    # feature by feature, each distinct value worded once: only the (row, feature) pairs that are reasons
    for j in np.unique(top[positive]):
        rows, slots = np.nonzero((top == j) & positive)
        column = spec.column(names[j])
        codes, distinct = pd.factorize(X[names[j]].iloc[rows], use_na_sentinel=False)
        words = np.array([phrase(column, v) for v in distinct], dtype=object)
        phrases[rows, slots] = words[codes]
    return ["; ".join(p for p in row if p) for row in phrases]
