"""Population stability: how far today's feature (or score) distribution is from training's.

``PSI = sum((a - e) * ln(a / e))`` over bins, with ``e`` the training share and ``a`` today's.
Numeric bins are training quantiles (plus one bin for missing values); categorical bins are the
categories. Shares are floored at 1e-4 so an empty bin does not make PSI infinite. Rule of thumb:
< 0.1 stable, 0.1-0.2 moderate, > 0.2 a real shift.

>>> import pandas as pd
>>> ref = reference(pd.Series(range(1000), dtype=float), bins=10)
>>> round(psi(ref, pd.Series(range(1000), dtype=float)), 6), psi(ref, pd.Series([5000.0] * 1000)) > 1
(0.0, True)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

_FLOOR = 1e-4


def reference(values: pd.Series, bins: int = 10) -> dict:
    """The training distribution of one column, as bins and shares (JSON-serialisable)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_string_dtype(values):
        shares = values.astype("object").where(values.notna(), "(missing)").astype(str).value_counts(normalize=True)
        return {"kind": "category", "bins": shares.index.tolist(), "shares": shares.tolist()}
    numeric = pd.to_numeric(values, errors="coerce")
    present = numeric.dropna().to_numpy(float)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else np.array([])
    return {"kind": "numeric", "edges": edges.tolist(), "shares": _numeric_shares(numeric, edges).tolist()}


def _numeric_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    missing = np.isnan(v)
    counts = np.bincount(np.searchsorted(edges, v[~missing], side="right"), minlength=len(edges) + 1)
    return np.append(counts, missing.sum()) / max(len(v), 1)


def psi(ref: dict, values: pd.Series) -> float:
    """Population stability index of ``values`` against a reference from :func:`reference`."""
    if ref["kind"] == "category":
        text = values.astype("object").where(values.notna(), "(missing)").astype(str)
        actual = text.value_counts(normalize=True).reindex(ref["bins"], fill_value=0.0).to_numpy()
        unseen = 1.0 - actual.sum()  # categories training never saw: one extra bin
        expected, actual = np.append(ref["shares"], 0.0), np.append(actual, unseen)
    else:
        expected = np.asarray(ref["shares"], float)
        actual = _numeric_shares(values, np.asarray(ref["edges"], float))
    e, a = np.maximum(expected, _FLOOR), np.maximum(actual, _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))
