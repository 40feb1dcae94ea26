"""Learned against hand-written definitions (train.learned.compare): conversions found by each side."""
from __future__ import annotations

import numpy as np
import pandas as pd

from train import learned as D


def test_overlap_counts_conversions_found_by_each_side():
    y = np.array([1, 1, 0, 1, 0])
    learned = np.array([True, True, False, False, False])
    hand = pd.DataFrame({"rule_a": [False, True, True, True, False]})
    row = D.overlap(learned, hand, y).iloc[0]
    assert (row["learned_only"], row["learned_only_converted"], row["rule_only"], row["rule_only_converted"],
            row["both"], row["both_converted"]) == (1, 1, 2, 1, 1, 1)
