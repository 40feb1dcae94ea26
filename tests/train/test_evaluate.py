"""Metrics at a volume (train.evaluate), hand-computed: top-k per snapshot, flag statistics, ECE, deciles."""
from __future__ import annotations

import numpy as np
import pytest

from train.evaluate import deciles, ece, flag_stats, probability_metrics, top_k_flags, volume_metrics


def test_top_k_is_per_snapshot_and_exact():
    score = np.array([0.9, 0.8, 0.8, 0.1, 0.5, 0.4])
    snap = np.array([1, 1, 1, 1, 2, 2])
    assert top_k_flags(score, snap, 2).tolist() == [True, True, False, False, True, True]
    assert top_k_flags(score, snap, {1: 1, 2: 0}).tolist() == [True, False, False, False, False, False]


def test_flag_stats_by_hand():
    flags = np.array([1, 1, 0, 0, 1, 0], bool)
    y = np.array([1, 0, 1, 0, 1, 0])
    stats = flag_stats(flags, y)
    assert stats["flagged"] == 3
    assert stats["precision"] == pytest.approx(2 / 3) and stats["recall"] == pytest.approx(2 / 3)
    assert stats["lift"] == pytest.approx((2 / 3) / 0.5)


def test_ece_by_hand():
    assert ece(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 0, 1, 1])) == pytest.approx(0.1)
    assert ece(np.array([0.25, 0.25, 0.25, 0.25]), np.array([1, 0, 0, 0])) == pytest.approx(0.0)


def test_probability_and_volume_metrics():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.3, 2000)
    y = (rng.uniform(size=2000) < p).astype(int)
    m = probability_metrics(p, y)
    assert 0.6 < m["roc_auc"] < 0.8 and m["ece"] < 0.05
    v = volume_metrics(p, y, np.repeat([1, 2], 1000), 50, (0.01, 0.1))
    assert set(v) >= {"precision_at_capacity", "recall_top10pct", "lift_top1pct"}
    table = deciles(p, y)
    assert table["accounts"].sum() == 2000 and table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
