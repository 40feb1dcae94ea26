"""Window sums (features.sweep.prefix): exact whatever other rows hold -- a huge or old value cannot erase a
small recent one, a refund cancels exactly, and every window sum equals ``math.fsum`` over its rows.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from features.build import build_features
from features.config import DataConfig, FeatureConfig
from features.data.load import load_frames
from features.plan import plan_features
from features.sweep.prefix import ExactSums
from features.windows import SegmentGrid


T = pd.Timestamp("2024-05-01").as_unit("us")


CONFIG = FeatureConfig(windows=(7, 30))


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _frames(quantities, days_before):
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [ts("2023-01-01")] * 2})
    n = len(quantities)
    events = pd.DataFrame({"account_id": ["a"] * n + ["b"], "event": ["upload"] * (n + 1),
                           "timestamp": [T - pd.Timedelta(days=d) for d in days_before] + [T - pd.Timedelta(days=1)],
                           "quantity": list(quantities) + [2.0]})
    events["timestamp"] = events["timestamp"].astype("datetime64[us]")
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": None}


def _row(frame, account="a"):
    return frame.set_index("account_id").loc[account]


def test_a_huge_old_quantity_does_not_erase_a_small_recent_one():
    tables, _ = load_frames(_frames([1e17, 3.0], [100, 2]))
    spec = plan_features(tables, T, CONFIG)
    row = _row(build_features(tables, [T], spec))
    assert row["upload_quantity_7d"] == 3.0 and row["upload_quantity_30d"] == 3.0
    assert row["upload_quantity_all"] == math.fsum([1e17, 3.0])


def test_a_refund_in_the_same_window_cancels_exactly():
    tables, _ = load_frames(_frames([1e17, 0.25, -1e17, 1e-3], [5, 4, 3, 2]))
    row = _row(build_features(tables, [T], plan_features(tables, T, CONFIG)))
    assert row["upload_quantity_7d"] == math.fsum([1e17, 0.25, -1e17, 1e-3]) == 0.251


_MAGNITUDE = st.floats(min_value=1e-3, max_value=1e17, allow_nan=False, allow_infinity=False)


_VALUE = st.builds(lambda m, neg: -m if neg else m, _MAGNITUDE, st.booleans()) | st.sampled_from([0.0, 1.0, 3.0])


def _close(got: float, exact: float) -> bool:
    # the exact sum rounded once, up to a few ulps of its own magnitude (never of the other rows')
    return got == exact or abs(got - exact) <= 4 * np.spacing(abs(exact))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 1), _VALUE), min_size=1,
                     max_size=60))
def test_exact_sums_match_fsum_per_window(rows):
    row, seg, code, value = (np.array(c) for c in zip(*rows))
    sums = ExactSums.build(row, seg, code, (3, 6, 2), value.astype(float))
    for lo in [None, 0, 1, 2, 3, 4]:
        for hi in range(0 if lo is None else lo + 1, 6):
            got = sums.prefix_window(np.arange(3), hi, lo)
            for r in range(3):
                for c in range(2):
                    inside = (row == r) & (code == c) & (seg <= hi) & (seg > (-1 if lo is None else lo))
                    exact = math.fsum(value[inside].tolist())
                    assert _close(got[r, c], exact), (lo, hi, r, c, got[r, c], exact)


@settings(max_examples=30, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 120 * 24), _VALUE), min_size=1, max_size=40))
def test_built_quantity_windows_match_fsum_over_rows_before_t(events):
    hours, values = zip(*events)
    frames = _frames([1.0], [200])  # one old row of quantity 1 ...
    extra = pd.DataFrame({"account_id": "a", "event": "upload", "quantity": [float(v) for v in values],
                          "timestamp": [T - pd.Timedelta(hours=h) for h in hours]})
    extra["quantity"] = extra["quantity"].where(extra["quantity"] != 1.0, 2.0)  # ... and quantities that vary
    events_frame = pd.concat([frames["events"], extra], ignore_index=True).astype({"timestamp": "datetime64[us]"})
    frames["events"] = events_frame
    tables, _ = load_frames(frames, DataConfig(duplicates="keep"))
    as_of = [T, T - pd.Timedelta(days=20)]
    frame = build_features(tables, as_of, plan_features(tables, T, CONFIG))
    mine = events_frame[events_frame["account_id"] == "a"]
    for t in as_of:
        row = frame[(frame["account_id"] == "a") & (frame["as_of"] == t)].iloc[0]
        for days, name in [(7, "upload_quantity_7d"), (30, "upload_quantity_30d"), (None, "upload_quantity_all")]:
            start = mine["timestamp"] >= t - pd.Timedelta(days=days) if days else True
            exact = math.fsum(mine.loc[start & (mine["timestamp"] < t), "quantity"].tolist())
            assert _close(row[name], exact), (t, name, row[name], exact)


def test_window_uses_the_grid_like_counts():
    grid = SegmentGrid.build(np.array([T.value // 1000]), spans=[7])
    sums = ExactSums.build(np.array([0, 0]), np.array([0, 1]), np.array([0, 0]), (1, grid.n_segments, 1),
                           np.array([1e17, 3.0]))
    assert sums.window(grid, 0, 7, np.array([0]))[0, 0] == 3.0
    assert sums.window(grid, 0, None, np.array([0]))[0, 0] == 1e17 + 3.0
