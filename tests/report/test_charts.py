"""The report's charts: numbered points whose labels never collide, score bands labelled so they can be told apart."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from report.charts import calibration_bars, close, volume
from report.content import calibration_bands


def _boxes(texts, renderer) -> list[tuple]:
    return [tuple(t.get_window_extent(renderer).extents) for t in texts if t.get_text().strip()]


def _overlapping(boxes: list[tuple]) -> list:
    return [(a, b) for a, b in itertools.combinations(boxes, 2)
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


def test_points_on_top_of_each_other_get_labels_that_do_not_collide():
    points = pd.DataFrame({"name": [f"rule_{i}_" + "x" * 60 for i in range(7)],
                           "kind": ["rule"] * 5 + ["any", "learned"],
                           "per_week": [10.0, 10.2, 10.1, 9.9, 10.0, 30.0, 10.3],
                           "precision": [0.20, 0.201, 0.199, 0.2, 0.202, 0.1, 0.2],
                           "conversions_per_week": [2.0, 2.05, 2.0, 1.98, 2.02, 3.0, 2.06]})
    curve = pd.DataFrame({"per_week": np.arange(1, 120.0), "precision": np.linspace(0.5, 0.05, 119),
                          "conversions_per_week": np.linspace(0.5, 6, 119)})
    fig = volume(curve, points, 50)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        numbers = [t for t in ax.texts if t.get_text().isdigit()]
        assert sorted(t.get_text() for t in numbers) == [str(i) for i in range(1, 8)]
        assert _overlapping(_boxes(numbers, renderer)) == []
    assert not any("x" * 20 in t.get_text() for ax in fig.axes for t in ax.texts)  # names stand in the table
    close(fig)


def test_skewed_scores_band_labels_neither_read_zero_nor_collide():
    rng = np.random.default_rng(5)
    score = np.clip(rng.lognormal(np.log(0.001), 1.0, 30_000), 0, 1)
    fig = calibration_bars(calibration_bands(score, rng.random(30_000) < score))
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticklabels()
    assert len(ticks) == 8 and not any("0.0%" in t.get_text() for t in ticks)
    assert _overlapping(_boxes(ticks, fig.canvas.get_renderer())) == []
    close(fig)
