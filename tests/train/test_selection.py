"""Choosing among the candidates (train.selection): the best ranking within the margin, then the most conversions
at the capacity; the prior keeps a tie; the reported folds leave out the one that only chose; the candidate table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from train.selection import best, candidate_table, fold_metric, mean_hits, reported


def _fold(y, score, snapshots=1):
    y = np.asarray(y)
    return y, np.asarray(score, float), np.repeat(np.arange(snapshots), len(y) // snapshots)


def test_a_clearly_better_ranking_wins():
    y = [0, 0, 0, 1, 0, 1]
    folds = {"good": [_fold(y, [1, 2, 3, 6, 4, 5])], "bad": [_fold(y, [6, 5, 4, 1, 3, 2])]}
    assert best(folds, "bad", "roc_auc", 0.005, calls=2)[0] == "good"


def test_among_near_rankings_the_one_that_fills_the_calls_wins():
    # both rank every converter above every non-converter but one: equal ROC AUC; at 2 calls "top" holds both
    y = [1, 1, 0, 0, 0, 0, 0, 1]
    top = [9, 8, 5, 4, 3, 2, 1, 0]
    bottom = [5, 4, 9, 8, 3, 2, 1, 6]
    folds = {"top": [_fold(y, top)], "bottom": [_fold(y, bottom)]}
    scores = {n: fold_metric(np.array(y), np.array(s, float), "roc_auc") for n, s in (("top", top), ("bottom", bottom))}
    assert abs(scores["top"] - scores["bottom"]) < 0.2
    hits = mean_hits(folds, calls=2)
    assert hits == {"top": 2.0, "bottom": 0.0}
    assert best(folds, "bottom", "roc_auc", 0.5, calls=2)[0] == "top"


def test_the_prior_keeps_a_tie_and_a_worse_ranking_never_buys_capacity():
    y = [0, 1, 0, 1]
    same = [1, 2, 3, 4]
    folds = {"prior": [_fold(y, same)], "other": [_fold(y, same)]}
    assert best(folds, "prior", "roc_auc", 0.005, calls=1)[0] == "prior"
    # "other" fills the single call better but ranks far worse overall: outside the margin, not chosen
    y = [1, 0, 0, 0, 1, 0, 0, 1]
    folds = {"prior": [_fold(y, [7, 1, 2, 3, 8, 4, 5, 6])], "other": [_fold(y, [9, 8, 7, 6, 0, 5, 4, 1])]}
    assert fold_metric(np.array(y), np.array([9, 8, 7, 6, 0, 5, 4, 1.]), "roc_auc") < 0.5
    assert best(folds, "prior", "roc_auc", 0.005, calls=1)[0] == "prior"


def test_no_outcome_leaves_the_prior():
    folds = {"a": [_fold([0, 0], [1, 2])], "b": [_fold([0, 0], [2, 1])]}
    chosen, scores = best(folds, "b", "roc_auc", 0.005, calls=1)
    assert chosen == "b" and all(np.isnan(v) for v in scores.values())


def test_the_first_fold_only_chooses_with_several_candidates():
    test = pd.DataFrame({"fold": [1, 1, 2, 3, 3]})
    assert reported(test, auto=True).tolist() == [False, False, True, True, True]
    assert reported(test, auto=False).all() and reported(test[test["fold"] == 1], auto=True).all()


def test_the_candidate_table_names_what_ships_and_the_differences_with_intervals():
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.1).astype(int)
    good = y * 2 + rng.normal(size=n)
    pooled = pd.DataFrame({"account_id": np.arange(n) % 800, "as_of": np.repeat(np.arange(8), n // 8),
                           "fold": np.repeat([1, 2], n // 2), "label": y, "candidate": "a",
                           "log_odds_a": good, "log_odds_b": rng.normal(size=n)})

    class Lineup:
        candidates = (type("C", (), {"name": "a"})(), type("C", (), {"name": "b"})())
        eligible = ("a", "b")
        metric = "roc_auc"

    class Backtest:
        lineup, chosen = Lineup(), "a"

    table = candidate_table(pooled, Backtest(), calls_per_snapshot=50, every_days=7).set_index("candidate")
    assert table.loc["a", "ships"] and not table.loc["b", "ships"]
    assert table.loc["a", "within_week_roc_auc"] > 0.8 > 0.6 > table.loc["b", "within_week_roc_auc"]
    assert table.loc["b", "auc_high"] < 0 and table.loc["b", "auc_verdict"].startswith("0.")
    assert "lower within-week ROC AUC" in table.loc["b", "auc_verdict"]
    assert table.loc["a", "scored_folds"] == "1,2"
