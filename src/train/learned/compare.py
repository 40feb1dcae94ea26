"""The learned list against the hand rules on the backtest rows: who each finds that the other misses."""
from __future__ import annotations

import numpy as np
import pandas as pd


def overlap(learned: np.ndarray, hand: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Per hand rule (``hand``: one boolean column ``rule_<name>`` each): accounts and conversions flagged by
    the learned list only, by the rule only, and by both."""
    learned, y = np.asarray(learned, bool), np.asarray(y, int)
    rows = []
    for column in hand.columns:
        rule = hand[column].to_numpy(bool)
        row = {"rule": column.removeprefix("rule_")}
        for label, mask in (("learned_only", learned & ~rule), ("rule_only", rule & ~learned), ("both", learned & rule)):
            row[label] = int(mask.sum())
            row[f"{label}_converted"] = int(y[mask].sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule", "learned_only", "learned_only_converted", "rule_only",
                                       "rule_only_converted", "both", "both_converted"])

