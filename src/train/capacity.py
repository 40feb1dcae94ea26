"""Sales capacity: what each PQL definition and the model deliver per week of calls.

A definition (a hand rule, "any rule", the learned list, model tier 1) flags a fixed set of accounts:
one point -- accounts per week and the share of them that convert. The model ranks, so it gives a
curve: its top ``k`` of each snapshot for every ``k``. Volumes are per snapshot scaled to a week
(``7 / every_days``): with weekly snapshots, "50 a week" is the top 50 of each snapshot.

At a capacity of ``c`` calls a week, a definition that flags ``v`` accounts a week fills
``min(v, c)`` calls and, with no ranking among its flags, converts ``precision x min(v, c)`` of
them; the model calls its top ``c``. The difference is what the model adds.

>>> test = pd.DataFrame({"as_of": ["w1"] * 4, "label": [1, 0, 1, 0], "log_odds": [4., 3., 2., 1.],
...                      "rule_a": [False, True, True, False]})
>>> model_curve(test, 7)[["per_week", "precision", "conversions_per_week"]].values.tolist()
[[1.0, 1.0, 1.0], [2.0, 0.5, 1.0], [3.0, 0.6666666666666666, 2.0], [4.0, 0.5, 2.0]]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from train.evaluate import top_k_flags
from train.verdict import interval, per_unit, words

ANY, LEARNED, TIER1 = "any rule", "learned list", "model tier 1"


def definition_flags(test: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per PQL definition found in a backtest frame, by readable name: each
    ``rule_<name>`` (as ``<name>``), ``any rule`` (with two rules or more), the ``learned`` list and
    ``model tier 1`` (``pql_tier == 1``). Missing columns are simply absent."""
    out = {c.removeprefix("rule_"): test[c].fillna(False).to_numpy(bool) for c in test.columns
           if c.startswith("rule_")}
    if len(out) > 1:
        out[ANY] = np.logical_or.reduce(list(out.values()))
    if "learned" in test.columns:
        out[LEARNED] = test["learned"].fillna(False).to_numpy(bool)
    if "pql_tier" in test.columns:
        out[TIER1] = (pd.to_numeric(test["pql_tier"], errors="coerce") == 1).fillna(False).to_numpy(bool)
    return pd.DataFrame(out, index=test.index)


def _per_week(every_days: int) -> float:
    return 7.0 / max(int(every_days), 1)


def model_curve(test: pd.DataFrame, every_days: int, max_per_snapshot: int | None = None) -> pd.DataFrame:
    """The model's top ``k`` of each snapshot (ranked by ``log_odds``) for k = 1, 2, ...: accounts per
    week, precision, conversions per week and recall. ``max_per_snapshot`` bounds k (default: the
    largest snapshot)."""
    order = test[["as_of", "log_odds", "label"]].reset_index(drop=True)
    rank = order.groupby("as_of")["log_odds"].rank(method="first", ascending=False).to_numpy(int)
    top = int(rank.max()) if len(rank) else 0
    top = min(top, int(max_per_snapshot)) if max_per_snapshot else top
    keep = rank <= top
    flagged = np.cumsum(np.bincount(rank[keep], minlength=top + 1)[1:])
    hits = np.cumsum(np.bincount(rank[keep], weights=order["label"].to_numpy(float)[keep], minlength=top + 1)[1:])
    n_snap, scale = max(order["as_of"].nunique(), 1), _per_week(every_days)
    positives = max(float(order["label"].sum()), 1.0)
    return pd.DataFrame({"per_snapshot": np.arange(1, top + 1), "per_week": flagged / n_snap * scale,
                         "precision": hits / np.maximum(flagged, 1), "conversions_per_week": hits / n_snap * scale,
                         "recall": hits / positives})


def definition_points(test: pd.DataFrame, every_days: int) -> pd.DataFrame:
    """One row per definition: accounts flagged, per week, precision, conversions per week; and the
    model flagging as many accounts in each snapshot (its top-k): its precision and conversions per week."""
    flags = definition_flags(test)
    snapshot, y = test["as_of"].to_numpy(), test["label"].to_numpy(int)
    n_snap, scale = max(test["as_of"].nunique(), 1), _per_week(every_days)
    rows = []
    for name in flags.columns:
        flag = flags[name].to_numpy(bool)
        per_snapshot = pd.Series(flag).groupby(snapshot).sum().to_dict()
        model = top_k_flags(test["log_odds"].to_numpy(), snapshot, per_snapshot)
        n, hits, model_hits = int(flag.sum()), int(y[flag].sum()), int(y[model].sum())
        kind = "learned" if name == LEARNED else "model" if name == TIER1 else "any" if name == ANY else "rule"
        rows.append({"name": name, "kind": kind, "flagged": n, "converted": hits, "per_week": n / n_snap * scale,
                     "precision": hits / n if n else 0.0, "conversions_per_week": hits / n_snap * scale,
                     "model_precision": model_hits / max(int(model.sum()), 1) if n else 0.0,
                     "model_conversions_per_week": model_hits / n_snap * scale})
    return pd.DataFrame(rows, columns=["name", "kind", "flagged", "converted", "per_week", "precision",
                                       "conversions_per_week", "model_precision", "model_conversions_per_week"])


def at_capacity(test: pd.DataFrame, capacity_per_week: int, every_days: int) -> dict:
    """The model and every definition at the sales capacity: expected conversions per week when sales
    calls ``capacity_per_week`` accounts (a definition flagging fewer fills fewer calls; one flagging more
    is called at random among its flags), the best definition, and what the model adds over it -- with a
    95% interval over the backtest's accounts (paired bootstrap, :mod:`train.verdict`) and the words for it,
    for every definition (columns ``added_*`` and ``verdict`` of ``definitions``) and for the headline's
    two: the best hand rule (``versus_rule``) and the learned list (``versus_learned``)."""
    per_snapshot = max(1, int(round(capacity_per_week / _per_week(every_days))))
    curve = model_curve(test, every_days, per_snapshot)
    model = curve.iloc[-1] if len(curve) else pd.Series({"precision": 0.0, "conversions_per_week": 0.0,
                                                         "per_week": 0.0})
    points = definition_points(test, every_days)
    points = points[points["kind"] != "model"]  # tier 1 is sized from the capacity: the model's own cut
    calls = np.minimum(points["per_week"].to_numpy(float), float(capacity_per_week))
    expected = points["precision"].to_numpy(float) * calls
    table = points.assign(calls_per_week=calls, conversions_at_capacity=expected).reset_index(drop=True)
    table = _with_intervals(table, test, per_snapshot, capacity_per_week, every_days)
    best = table.iloc[int(np.argmax(expected))] if len(table) else None
    out = {"capacity_per_week": int(capacity_per_week), "calls_per_snapshot": per_snapshot,
           "model_per_week": float(model["per_week"]), "model_precision": float(model["precision"]),
           "model_conversions_per_week": float(model["conversions_per_week"]),
           "best_definition": None if best is None else str(best["name"]),
           "best_precision": None if best is None else float(best["precision"]),
           "best_calls_per_week": None if best is None else float(best["calls_per_week"]),
           "best_conversions_per_week": None if best is None else float(best["conversions_at_capacity"]),
           "added_conversions_per_week": None if best is None else
           float(model["conversions_per_week"] - best["conversions_at_capacity"]),
           "definitions": table}
    if best is not None:
        out.update(added_low=float(best["added_low"]), added_high=float(best["added_high"]),
                   verdict=str(best["verdict"]))
    for key, kinds in (("versus_rule", ("rule", "any")), ("versus_learned", ("learned",))):
        mine = table[table["kind"].isin(kinds)]
        if len(mine):
            row = mine.iloc[int(np.argmax(mine["conversions_at_capacity"].to_numpy(float)))]
            out[key] = {k: (row[k] if k in ("name", "verdict") else float(row[k])) for k in
                        ("name", "precision", "calls_per_week", "conversions_at_capacity", "added_per_week",
                         "added_low", "added_high", "verdict")}
    return out


def _with_intervals(table: pd.DataFrame, test: pd.DataFrame, per_snapshot: int, capacity_per_week: int,
                    every_days: int) -> pd.DataFrame:
    """Each definition's row with what the model adds over it at capacity, its interval over the accounts and
    its words (:mod:`train.verdict`)."""
    snapshot, y, units = test["as_of"].to_numpy(), test["label"].to_numpy(int), test["account_id"].to_numpy()
    top = top_k_flags(test["log_odds"].to_numpy(), snapshot, per_snapshot)
    flags = definition_flags(test)
    weeks, cap = len(np.unique(snapshot)) / _per_week(every_days), float(capacity_per_week)
    model = per_unit(top & (y == 1), units)
    rows = []
    for name in table["name"]:
        flag = flags[name].to_numpy(bool)
        sums = {"model": model, "flagged": per_unit(flag, units), "hits": per_unit(flag & (y == 1), units)}
        point, low, high = interval(sums, lambda s: s["model"] / weeks - s["hits"] / np.maximum(s["flagged"], 1)
                                    * np.minimum(s["flagged"] / weeks, cap))
        rows.append({"added_per_week": point, "added_low": low, "added_high": high, "verdict": words(point, low, high)})
    return pd.concat([table, pd.DataFrame(rows, index=table.index)], axis=1)
