"""Learned PQL definitions: a short list of readable rules chosen under the sales team's volume budget.

A hand-written PQL rule is a bet a person made; here the same kind of rule is *learned* from the training
snapshots, so that sales gets a definition it can read and argue with, and the model has a fair rival.
The story in modules: :mod:`~train.learned.rules` (conditions, rules, the list), :mod:`~train.learned.wording`
(a condition in a sales team's words), :mod:`~train.learned.candidates` (shallow trees propose, never on a column
of identifiers), :mod:`~train.learned.search` (the greedy choice under the budget, round thresholds, no
near-duplicates),
:mod:`~train.learned.folds` (a list per fold, stability), :mod:`~train.learned.compare` (against the hand
rules). Functions are pure: they take arrays and frames and never change them.
"""
from __future__ import annotations

from train.learned.folds import Backtested, backtest, equivalent, stability, table
from train.learned.compare import overlap
from train.learned.rules import COUNT_KINDS, PREFIX, Condition, LearnedDefinitions, LearnedRule, columns_of
from train.learned.search import learn, round_values, wilson_low

__all__ = ["Backtested", "COUNT_KINDS", "Condition", "LearnedDefinitions", "LearnedRule", "PREFIX", "backtest",
           "columns_of", "equivalent", "learn", "overlap", "round_values", "stability", "table", "wilson_low"]
