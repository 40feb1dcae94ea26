"""Learned vs hand-defined: the same test snapshots, the same volume.

For each rule (and for "any rule"): what it flags and how many convert; the model flagging the
same number of accounts in each snapshot (its top-k by score); and the overlap -- flagged by the
rule only, by the model only, by both -- each with its conversion rate.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.text_table import text_table
from rules.language import RuleSet

from train.evaluate import flag_stats, top_k_flags
from train.verdict import interval, per_unit, words

ANY = "any_rule"


def compare_rules(rules: RuleSet, features: pd.DataFrame, score: np.ndarray, y: np.ndarray,
                  every_days: int = 7) -> pd.DataFrame:
    """One row per rule plus ``any_rule``: rule and model precision/recall/lift at equal volume, overlap.

    ``score`` only ranks accounts within each snapshot (the backtest passes the raw log-odds: no ties)."""
    if not rules.names:
        return pd.DataFrame(columns=["name", "flagged", "precision", "recall", "lift", "model_precision",
                                     "model_recall", "model_lift"])
    flags = rules.evaluate(features)
    flags[ANY] = rules.any_rule(features).to_numpy()
    return compare_flags(flags, features["as_of"].to_numpy(), score, y, every_days,
                         features["account_id"].to_numpy() if "account_id" in features else None)


def compare_flags(flags: pd.DataFrame, snapshot: np.ndarray, score: np.ndarray, y: np.ndarray,
                  every_days: int = 7, accounts: np.ndarray | None = None) -> pd.DataFrame:
    """The comparison of :func:`compare_rules` for any definitions given as boolean columns (``rule_`` prefixes
    are dropped from the names): e.g. the learned list, whose flags come from a different list in each fold.
    ``added_per_week`` (with its 95% interval over the ``accounts``, ``added_low``/``added_high``, and ``verdict``
    in words, :mod:`train.verdict`): the conversions a week the model finds beyond the definition at the
    definition's own volume."""
    rows = []
    units = np.arange(len(y)) if accounts is None else np.asarray(accounts)
    weeks = len(np.unique(snapshot)) * max(int(every_days), 1) / 7.0
    for column in flags.columns:
        rule = flags[column].to_numpy(bool)
        per_snapshot = pd.Series(rule).groupby(snapshot).sum().to_dict()
        model = top_k_flags(score, snapshot, per_snapshot)
        r, m = flag_stats(rule, y), flag_stats(model, y)
        row = {"name": column.removeprefix("rule_"), **r,
               "model_precision": m["precision"], "model_recall": m["recall"], "model_lift": m["lift"]}
        for label, mask in (("rule_only", rule & ~model), ("model_only", model & ~rule), ("both", rule & model)):
            row[f"{label}"] = int(mask.sum())
            row[f"{label}_rate"] = float(y[mask].mean()) if mask.any() else 0.0
        rows.append({**row, **_added(rule, model, y, units, weeks)})
    return pd.DataFrame(rows)


def _added(rule: np.ndarray, model: np.ndarray, y: np.ndarray, units: np.ndarray, weeks: float) -> dict:
    """The model's extra conversions a week at the rule's volume, its interval and the words for it."""
    sums = {"model": per_unit(model & (y == 1), units), "rule": per_unit(rule & (y == 1), units)}
    point, low, high = interval(sums, lambda s: (s["model"] - s["rule"]) / max(weeks, 1e-9))
    return {"added_per_week": point, "added_low": low, "added_high": high, "verdict": words(point, low, high)}


def readable(table: pd.DataFrame) -> str:
    """The comparison as a fixed-width text table for the end of a training run."""
    if table.empty:
        return "(no hand-defined rules configured)"
    show = pd.DataFrame({
        "rule": table["name"],
        "flagged": table["flagged"],
        "rule prec": table["precision"].map("{:.1%}".format),
        "model prec": table["model_precision"].map("{:.1%}".format),
        "rule recall": table["recall"].map("{:.1%}".format),
        "model recall": table["model_recall"].map("{:.1%}".format),
        "rule lift": table["lift"].map("{:.1f}".format),
        "model lift": table["model_lift"].map("{:.1f}".format),
        "rule only": [f"{n} ({r:.0%})" if n else "0" for n, r in zip(table["rule_only"], table["rule_only_rate"])],
        "model only": [f"{n} ({r:.0%})" if n else "0" for n, r in zip(table["model_only"], table["model_only_rate"])],
        "both": [f"{n} ({r:.0%})" if n else "0" for n, r in zip(table["both"], table["both_rate"])],
    })
    lines = [text_table(show)]
    if "verdict" in table:  # the same comparison in words, each with its interval over the backtest's accounts
        lines += [f"  {name}: at its volume the model {verdict}" for name, verdict in zip(table["name"], table["verdict"])]
    return "\n".join(lines)


def compare_backtest(rules: RuleSet, features: pd.DataFrame, test: pd.DataFrame,
                     every_days: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hand rules' comparison on the pooled backtest rows (``features``: their design rows), and the same
    with the learned list's row last when the run learned one (test column ``learned``, fold by fold).
    The model ranks by its raw log-odds: calibration keeps their order, and they have no ties."""
    snapshot, rank, y = test["as_of"].to_numpy(), test["log_odds"].to_numpy(), test["label"].to_numpy()
    hand = compare_rules(rules, features.assign(as_of=snapshot, account_id=test["account_id"].to_numpy()), rank, y,
                         every_days)
    if "learned" not in test:
        return hand, hand
    learned = compare_flags(test[["learned"]], snapshot, rank, y, every_days, test["account_id"].to_numpy())
    return hand, pd.concat([hand, learned], ignore_index=True)
