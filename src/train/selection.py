"""Choosing among the candidates by their out-of-time scores, without flattering the choice.

Two figures judge a candidate on each fold's test rows, averaged over the folds: its ranking (``roc_auc`` or
``pr_auc`` of its raw log-odds -- each fold's rows ranked among themselves, so the folds' different base rates
and score levels do not blur it, as a pooled ROC AUC would) and the conversions its top ``calls`` accounts of
each snapshot hold (what sales gets at the capacity). The choice: among the candidates that rank within
``margin`` of the best ranking, the one that converts most at the capacity -- the a-priori candidate keeps
the choice on a tie. A candidate never buys capacity with a clearly worse ranking, and between near-equal
rankings the one that fills the sales calls best wins.

>>> y, s = np.array([0, 1, 0, 1]), np.array(["w"] * 4)
>>> folds = {"a": [(y, np.array([1., 2., 3., 4.]), s)], "b": [(y, np.array([1., 4., 2., 3.]), s)]}
>>> best(folds, "a", "roc_auc", 0.01, calls=1)
('b', {'a': 0.75, 'b': 1.0})
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from train.evaluate import top_k_flags
from train.verdict import concordance, interval, per_unit, words

METRICS = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score}
Fold = tuple[np.ndarray, np.ndarray, np.ndarray]  # one fold's labels, a candidate's log-odds, each row's as-of


def fold_metric(y: np.ndarray, score: np.ndarray, metric: str) -> float:
    """The ranking metric on one fold's rows (nan without both outcomes)."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(METRICS[metric](y, score))


def _mean(values: list[float]) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def mean_scores(folds: dict[str, Sequence[Fold]], metric: str) -> dict[str, float]:
    """Each candidate's ranking metric averaged over the folds (``folds[name]``: one :data:`Fold` per fold)."""
    return {name: _mean([fold_metric(y, s, metric) for y, s, _ in data]) for name, data in folds.items()}


def mean_hits(folds: dict[str, Sequence[Fold]], calls: int) -> dict[str, float]:
    """Each candidate's conversions among its top ``calls`` accounts of a snapshot, per snapshot, over the folds."""
    out = {}
    for name, data in folds.items():
        hits = [float((top_k_flags(s, t, calls) & (np.asarray(y) == 1)).sum()) / max(len(np.unique(t)), 1)
                for y, s, t in data]
        out[name] = _mean(hits)
    return out


def best(folds: dict[str, Sequence[Fold]], prior: str, metric: str, margin: float,
         calls: int) -> tuple[str, dict[str, float]]:
    """(the chosen candidate, every candidate's mean ranking metric): among the candidates ranking within
    ``margin`` of the best, the one with the most conversions at ``calls`` a snapshot (``prior`` on a tie)."""
    scores = mean_scores(folds, metric)
    finite = {n: v for n, v in scores.items() if np.isfinite(v)}
    if not finite:
        return prior, scores
    near = [n for n, v in finite.items() if v >= max(finite.values()) - margin]
    hits = mean_hits({n: folds[n] for n in near}, calls)
    top = max(near, key=lambda n: (hits[n], n == prior, finite[n]))
    if prior in near and hits[prior] >= hits[top] - 1e-12:
        return prior, scores
    return top, scores


def candidate_table(pooled: pd.DataFrame, backtest, calls_per_snapshot: int, every_days: int) -> pd.DataFrame:
    """One row per candidate of a backtest (:class:`train.backtest.Backtest`), on every fold's rows (``pooled``,
    with every candidate's log-odds ``log_odds_<name>``): its selection metric on each fold and on average,
    its within-week ROC AUC and conversions a week at capacity -- each beside the shipped candidate's, as a
    paired difference with its 95% interval and the words for it -- whether it could be chosen, the folds it
    scored in the backtest (chosen on the folds before them) and whether it ships."""
    lineup, metric = backtest.lineup, backtest.lineup.metric
    snapshot, y, units = pooled["as_of"].to_numpy(), pooled["label"].to_numpy(int), pooled["account_id"].to_numpy()
    weeks = len(np.unique(snapshot)) * max(int(every_days), 1) / 7.0
    sums = {}
    for candidate in lineup.candidates:
        score = pooled[f"log_odds_{candidate.name}"].to_numpy()
        concordant, pairs = concordance(y, score, snapshot)
        hits = top_k_flags(score, snapshot, calls_per_snapshot) & (y == 1)
        sums[candidate.name] = (per_unit(concordant, units), per_unit(pairs, units), per_unit(hits, units))
    shipped = sums[backtest.chosen]
    return pd.DataFrame([_candidate_row(c.name, pooled, backtest, metric, sums[c.name], shipped, weeks)
                         for c in lineup.candidates])


def _candidate_row(name: str, pooled: pd.DataFrame, backtest, metric: str, mine: tuple, shipped: tuple,
                   weeks: float) -> dict:
    """A candidate's row of :func:`candidate_table`."""
    per_fold = {int(k): fold_metric(part["label"].to_numpy(), part[f"log_odds_{name}"].to_numpy(), metric)
                for k, part in pooled.groupby("fold")}
    scored = sorted(int(k) for k in pooled.loc[pooled["candidate"] == name, "fold"].unique())
    auc = interval({"c": mine[0], "p": mine[1], "sc": shipped[0], "sp": shipped[1]},
                   lambda s: s["c"] / np.maximum(s["p"], 1) - s["sc"] / np.maximum(s["sp"], 1))
    calls = interval({"c": mine[2], "s": shipped[2]}, lambda s: (s["c"] - s["s"]) / max(weeks, 1e-9))
    row = {"candidate": name, "eligible": name in backtest.lineup.eligible, "ships": name == backtest.chosen,
           f"{metric}_mean": float(np.nanmean(list(per_fold.values()))) if per_fold else float("nan"),
           "within_week_roc_auc": float(mine[0].sum() / max(mine[1].sum(), 1)),
           "conversions_per_week_at_capacity": float(mine[2].sum() / max(weeks, 1e-9)),
           "scored_folds": ",".join(map(str, scored))}
    row.update({f"{metric}_fold_{k}": v for k, v in per_fold.items()})
    if name != backtest.chosen:
        row.update(auc_vs_shipped=auc[0], auc_low=auc[1], auc_high=auc[2],
                   auc_verdict=words(auc[0], auc[1], auc[2], "within-week ROC AUC", 3, "higher", "lower", ""),
                   calls_vs_shipped=calls[0], calls_low=calls[1], calls_high=calls[2],
                   calls_verdict=words(calls[0], calls[1], calls[2]))
    return row


def reported(test: pd.DataFrame, auto: bool) -> np.ndarray:
    """Which pooled backtest rows the run reports: with several candidates, every fold after the first -- each
    scored by the candidate chosen on the folds before it -- while the first fold only informs the choice (its
    rows were scored by the a-priori candidate); with one candidate, or a single fold, every row.

    >>> reported(pd.DataFrame({"fold": [1, 1, 2, 3]}), auto=True).tolist()
    [False, False, True, True]
    """
    folds = np.sort(test["fold"].unique())
    if not auto or len(folds) < 2:
        return np.ones(len(test), dtype=bool)
    return (test["fold"] != folds[0]).to_numpy()
