"""Revenue potential: each account's expected value = probability of converting x predicted amount.

Used only when ``conversions`` carries an ``amount`` (e.g. first-year contract value). The amount model is
deliberately simple and documented: a ridge regression of log(amount) on the account's features at the
snapshot (numbers as signed log1p, standardised; categories one-hot), fitted on the converting rows the
model learns from, with Duan's smearing factor to return from the log scale and predictions kept within the
amounts seen. With fewer than ``MIN_ROWS`` converters with an amount it predicts their median. It is plain
numbers in JSON (``amount.json`` in the bundle): no pickle, no extra dependency at scoring time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.spec import FeatureSpec

MIN_ROWS = 20     # converters with an amount needed to fit more than a median
ALPHA = 10.0      # ridge penalty on standardised features (few converters, many correlated counts)
MIN_LEVEL = 5     # a category needs this many converters to get its own coefficient


def row_amounts(frame: pd.DataFrame, conversions: pd.DataFrame | None) -> np.ndarray | None:
    """Per row of ``frame`` (account_id, label): the amount of the conversion its label counts (the account's
    first), NaN for non-converting rows; None when the conversions carry no amount at all."""
    if conversions is None or "amount" not in conversions.columns or conversions["amount"].notna().sum() == 0:
        return None
    first = (conversions.sort_values("converted_at", kind="stable").drop_duplicates("account_id")
             [["account_id", "amount"]])
    ids = frame[["account_id"]].astype({"account_id": object})
    merged = ids.merge(first.astype({"account_id": object}), on="account_id", how="left")
    amounts = merged["amount"].to_numpy(dtype="float64", na_value=np.nan)
    return np.where(frame["label"].to_numpy() == 1, amounts, np.nan)


def _transform(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sign(v) log(1 + |v|), with missing and infinite values at 0; into ``out`` when given (``predict`` reuses
    one buffer column by column)."""
    out = np.abs(values, out=out)
    np.log1p(out, out=out)
    np.copysign(out, values, out=out)
    out[~np.isfinite(out)] = 0.0
    return out


@dataclass(frozen=True)
class AmountModel:
    """log(amount) ~ ridge on the features; ``predict`` gives an amount per row."""

    numeric: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    coef: tuple[float, ...] = ()
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    intercept: float = 0.0
    smear: float = 1.0
    low: float = 0.0
    high: float = float("inf")
    n: int = 0

    @classmethod
    def fit(cls, X: pd.DataFrame, amount: np.ndarray, spec: FeatureSpec) -> "AmountModel":
        """From the rows with a known positive amount (the others are ignored)."""
        amount = np.asarray(amount, float)
        keep = np.isfinite(amount) & (amount > 0)
        values = amount[keep]
        if len(values) == 0:
            return cls(intercept=0.0, low=0.0, high=0.0)
        low, high = float(values.min()), float(values.max())
        if len(values) < MIN_ROWS:
            return cls(intercept=float(np.log(np.median(values))), low=low, high=high, n=int(len(values)))
        rows = X[keep]
        categorical = set(spec.categorical)
        numeric = tuple(n for n in spec.names if n in rows.columns and n not in categorical)
        Z = _transform(rows[list(numeric)].to_numpy(dtype="float64", na_value=np.nan)) if numeric else \
            np.zeros((len(rows), 0))
        mean, scale = Z.mean(axis=0), Z.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        blocks, names = [(Z - mean) / scale], []
        for name in spec.categorical:
            if name not in rows.columns:
                continue
            text = rows[name].astype(object).to_numpy()
            counts = pd.Series(text).value_counts()
            for level in counts.index[counts >= MIN_LEVEL]:
                blocks.append((text == level).astype(float)[:, None])
                names.append((name, str(level)))
        D = np.hstack(blocks)
        target = np.log(values)
        centre = D.mean(axis=0)
        Dc = D - centre
        beta = np.linalg.solve(Dc.T @ Dc + ALPHA * np.eye(D.shape[1]), Dc.T @ (target - target.mean()))
        intercept = float(target.mean() - centre @ beta)
        residual = target - (intercept + D @ beta)
        k = len(numeric)
        levels: dict[str, dict[str, float]] = {}
        for (name, level), b in zip(names, beta[k:]):
            levels.setdefault(name, {})[level] = float(b)
        return cls(numeric, tuple(mean.tolist()), tuple(scale.tolist()), tuple(beta[:k].tolist()), levels, intercept,
                   float(np.mean(np.exp(residual))), low, high, int(len(values)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The predicted amount of each row (if it converts)."""
        log_amount = np.full(len(X), self.intercept)
        # one column at a time into one buffer: no rows x columns matrix (760 MB and ~3 s for a million accounts)
        buffer = np.empty(len(X))
        for name, mean, scale, coef in zip(self.numeric, self.mean, self.scale, self.coef, strict=True):
            _transform(X[name].to_numpy(dtype="float64", na_value=np.nan), out=buffer)
            buffer -= mean
            buffer /= scale
            buffer *= coef
            log_amount += buffer
        for name, table in self.levels.items():
            # a level never seen among converters (or missing) adds nothing
            column = X[name]
            if isinstance(column.dtype, pd.CategoricalDtype):  # each category looked up once, not each row
                lookup = np.array([table.get(c, np.nan) for c in column.cat.categories] + [np.nan], dtype="float64")
                effect = lookup[column.cat.codes.to_numpy()]  # code -1 (missing) takes the last slot
            else:
                effect = column.astype(object).map(table).to_numpy(dtype="float64", na_value=np.nan)
            log_amount += np.nan_to_num(effect, nan=0.0)
        return np.clip(np.exp(log_amount) * self.smear, self.low, self.high)

    def to_dict(self) -> dict:
        """The model as plain JSON data (``amount.json``)."""
        return {"numeric": list(self.numeric), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "levels": self.levels, "intercept": self.intercept, "smear": self.smear,
                "low": self.low, "high": self.high, "n": self.n}

    @classmethod
    def from_dict(cls, data: dict) -> "AmountModel":
        """The model from :meth:`to_dict`'s data."""
        return cls(tuple(data["numeric"]), tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]),
                   {k: dict(v) for k, v in data["levels"].items()}, float(data["intercept"]), float(data["smear"]),
                   float(data["low"]), float(data["high"]), int(data.get("n", 0)))


def revenue_table(test: pd.DataFrame, amount: np.ndarray, capacity_per_week: int, every_days: int) -> pd.DataFrame:
    """Revenue captured per week at the sales capacity, by each PQL definition and by the model.

    ``test`` is the backtest frame (``as_of``, ``label``, ``log_odds``, ``expected_value``, the definitions'
    flags); ``amount`` per row (NaN unless it converted). A definition flagging ``v`` accounts a week fills
    ``min(v, capacity)`` calls at random among its flags (its revenue scales by that share); the model calls
    its top accounts of each snapshot by expected value (``model``) and, for comparison, by probability
    (``model (by probability)``). ``model_same_volume`` is the model's revenue (by expected value) when it
    flags as many accounts in each snapshot as the definition."""
    from train.capacity import definition_flags  # the report's names for the definitions
    from train.evaluate import top_k_flags

    snapshot, y = test["as_of"].to_numpy(), test["label"].to_numpy(int)
    revenue = np.where(y == 1, np.nan_to_num(np.asarray(amount, float)), 0.0)
    weeks = max(test["as_of"].nunique(), 1) * max(int(every_days), 1) / 7
    per_snapshot = capacity_per_week * every_days / 7
    value = test["expected_value"].to_numpy(float)
    rows = []
    for name, flags in definition_flags(test).items():
        flags = flags.to_numpy(bool)
        per_week = flags.sum() / weeks
        share = min(1.0, capacity_per_week / per_week) if per_week else 0.0
        volume = pd.Series(flags).groupby(snapshot).sum().to_dict()
        rows.append({"name": name, "per_week": per_week, "converted": int(y[flags].sum()),
                     "revenue": float(revenue[flags].sum()), "revenue_per_week_at_capacity":
                     float(revenue[flags].sum()) / weeks * share,
                     "model_same_volume_revenue": float(revenue[top_k_flags(value, snapshot, volume)].sum())})
    for name, rank in (("model", value), ("model (by probability)", test["log_odds"].to_numpy(float))):
        top = top_k_flags(rank, snapshot, per_snapshot)
        rows.append({"name": name, "per_week": top.sum() / weeks, "converted": int(y[top].sum()),
                     "revenue": float(revenue[top].sum()),
                     "revenue_per_week_at_capacity": float(revenue[top].sum()) / weeks,
                     "model_same_volume_revenue": float(revenue[top].sum())})
    return pd.DataFrame(rows, columns=["name", "per_week", "converted", "revenue", "revenue_per_week_at_capacity",
                                       "model_same_volume_revenue"])
