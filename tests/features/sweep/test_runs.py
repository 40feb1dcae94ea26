"""Counting runs of events (features.sweep.runs): add_counts equals adding events one by one."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("events", [5, 5000], ids=["few-events-in-place", "many-events-bincount"])
def test_add_counts_equals_one_by_one(events: int) -> None:
    """add_counts adds events one by one in place when they are few for the cells (a short segment of
    many accounts) and by a bincount otherwise; both equal counting each event, on int32 and uint8."""
    from features.sweep.runs import add_counts

    rng = np.random.default_rng(events)
    for dtype in (np.int32, np.uint8):
        total = rng.integers(0, 50, (300, 4)).astype(dtype)
        row, code = rng.integers(0, 300, events), rng.integers(0, 4, events)
        expected = total.astype(np.int64)
        for r, c in zip(row, code):
            expected[r, c] += 1
        add_counts(total, row, code)
        assert total.dtype == dtype and (total.astype(np.int64) == expected).all()
