"""The learned list across the backtest folds: a list per fold learned from that fold's training rows only
(it flags the fold's test rows), the production list, and how stable each production rule is (how often
an equivalent rule reappears in the fold lists).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from features.spec import FeatureSpec

from train.config import LearnedConfig
from train.learned.rules import LearnedDefinitions, LearnedRule, columns_of
from train.learned.search import learn
from train.settings import TrainSettings


def equivalent(a: LearnedRule, b: LearnedRule, a_flags: np.ndarray, b_flags: np.ndarray,
               jaccard: float = 0.5) -> bool:
    """Same idea: the same features in the same directions, or flags that mostly coincide (Jaccard)."""
    if a.signature == b.signature:
        return True
    union = int((a_flags | b_flags).sum())
    return union > 0 and int((a_flags & b_flags).sum()) / union >= jaccard


def stability(production: LearnedDefinitions, folds: Sequence[LearnedDefinitions], X: pd.DataFrame) -> dict[str, float]:
    """Per production rule: the share of fold lists holding the same or an equivalent rule (flags on ``X``)."""
    if not production.learned:
        return {}
    features = {f for d in (production, *folds) for r in d.learned for f, _ in r.signature}
    columns = columns_of(X, features)
    masks = {id(r): r.mask(columns) for d in (production, *folds) for r in d.learned}
    out = {}
    for rule in production.learned:
        hits = sum(any(equivalent(rule, other, masks[id(rule)], masks[id(other)]) for other in fold.learned)
                   for fold in folds)
        out[rule.name] = hits / len(folds) if folds else float("nan")
    return out


def table(production: LearnedDefinitions, stable: dict[str, float], test_X: pd.DataFrame,
          y: np.ndarray) -> pd.DataFrame:
    """The production list, one row per rule: expression, words, stability, and what the rule flags on the
    backtest rows (flagged, converted, precision) -- IN SAMPLE: the production list learned from those rows
    (column ``figures`` says so; the out-of-fold figures are the fold lists', the comparison's ``learned`` row)."""
    columns = ["name", "expression", "words", "stability", "flagged", "converted", "precision", "figures",
               "train_added", "train_added_converted", "train_bound"]
    if not production.learned:
        return pd.DataFrame(columns=columns)
    cols = columns_of(test_X, {f for r in production.learned for f, _ in r.signature})
    rows = []
    for rule in production.learned:
        m = rule.mask(cols)
        n, hits = int(m.sum()), int(np.asarray(y)[m].sum())
        rows.append({"name": rule.name, "expression": rule.expression, "words": rule.words(production.spec),
                     "stability": stable.get(rule.name, float("nan")), "flagged": n, "converted": hits,
                     "precision": hits / n if n else 0.0, "figures": "in-sample", "train_added": rule.added,
                     "train_added_converted": rule.added_converted, "train_bound": rule.bound})
    return pd.DataFrame(rows, columns=columns)



@dataclass(frozen=True)
class Backtested:
    """The production list, each fold's list (learned from that fold's training rows only), the folds' flags
    on their own test rows (pooled in fold order) and the production list's table."""

    production: LearnedDefinitions
    folds: tuple[LearnedDefinitions, ...]
    test_flags: np.ndarray
    table: pd.DataFrame


def backtest(X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray,
             folds: Sequence[tuple[np.ndarray, np.ndarray, FeatureSpec]], final_rows: np.ndarray, spec: FeatureSpec,
             budget: float, config: LearnedConfig, recent_snapshots: int = 4) -> Backtested:
    """Learn a list per fold from its training rows (``folds``: train mask, test mask, the columns the fold's
    model had) and flag its test rows with it; learn the production list from ``final_rows``; measure how
    often each production rule reappears in the fold lists and what it flags on the pooled test rows."""
    y = np.asarray(y, int)
    lists, flags, tests = [], [], []
    for train, test, fold_spec in folds:
        learned = learn(X[train], y[train], snapshot[train], fold_spec, budget, config, recent_snapshots)
        lists.append(learned)
        flags.append(learned.flags(X[test]))
        tests.append(np.flatnonzero(test))
    production = learn(X[final_rows], y[final_rows], snapshot[final_rows], spec, budget, config, recent_snapshots)
    rows = np.concatenate(tests) if tests else np.zeros(0, int)
    test_X = X.iloc[rows]
    stable = stability(production, lists, test_X)
    return Backtested(production, tuple(lists), np.concatenate(flags) if flags else np.zeros(0, bool),
                      table(production, stable, test_X, y[rows]))



def learn_definitions(design, folds, final_rows: np.ndarray, spec: FeatureSpec,
                      settings: TrainSettings) -> Backtested | None:
    """The learned list of a training run (None when ``learned.enabled`` is false): each fold's list learns from
    its model's training rows with its columns (``design``: :class:`train.design.Design`; ``folds``:
    :class:`train.backtest.Backtest`), the production list from ``final_rows``, under the capacity per snapshot."""
    if not settings.learned.enabled:
        return None
    per_fold = [(design.rows(r.fold.train, r.fold.test[0]), r.rows, s) for r, s in zip(folds.results, folds.specs)]
    return backtest(design.X, design.y, design.snapshot, per_fold, final_rows, spec, settings.capacity_per_snapshot,
                    settings.learned, settings.backtest.reference_snapshots)
