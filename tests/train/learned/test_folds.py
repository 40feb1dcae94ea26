"""A learned list per backtest fold (train.learned.folds): each learns only from its training rows."""
from __future__ import annotations

import numpy as np

from train import learned as D


def test_fold_lists_learn_only_from_their_training_rows(world, small_spec, learned_config):
    """Point in time: relabelling a fold's test rows changes neither its list nor its flags."""
    X, y, snapshot = world
    times = np.unique(snapshot)
    train, test = np.isin(snapshot, times[:8]), np.isin(snapshot, times[9:])
    folds = [(train, test, small_spec)]
    a = D.backtest(X, y, snapshot, folds, train | test, small_spec, 40, learned_config)
    flipped = y.copy()
    flipped[test] = 1 - flipped[test]
    b = D.backtest(X, flipped, snapshot, folds, train, small_spec, 40, learned_config)
    assert np.array_equal(a.test_flags, b.test_flags) and a.test_flags.any()
    assert a.folds[0].expressions == b.folds[0].expressions
    assert a.table["stability"].iloc[0] == 1.0  # the production rule reappears in the fold's list
    assert {"name", "expression", "words", "stability", "flagged", "converted", "precision"} <= set(a.table)
