"""Comparing the hand-written rules with the model at equal volume (train.compare)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rules.language import RuleSet
from train.compare import compare_rules, readable


def test_compare_rules_counts_the_overlap():
    features = pd.DataFrame({"as_of": [1, 1, 1, 1], "x": [10.0, 0.0, 10.0, 0.0]})
    rules = RuleSet.from_config({"big_x": {"description": "", "expression": "x > 5"}})
    score = np.array([0.1, 0.9, 0.8, 0.2])  # the model's top 2: rows 1 and 2
    y = np.array([0, 1, 1, 0])
    table = compare_rules(rules, features, score, y).set_index("name")
    row = table.loc["big_x"]
    assert (row["flagged"], row["precision"], row["model_precision"]) == (2, 0.5, 1.0)
    assert (row["rule_only"], row["model_only"], row["both"]) == (1, 1, 1)
    assert (row["rule_only_rate"], row["model_only_rate"], row["both_rate"]) == (0.0, 1.0, 1.0)
    assert "big_x" in readable(table.reset_index()) and "any_rule" in table.index
