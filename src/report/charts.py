"""The report's two charts (matplotlib, no screen needed), drawn so that no two texts collide at any data: the
definitions are numbered points whose full names stand in the table beside the chart, each number placed where
no other label is; the score bands' labels are two short lines each.

>>> boxes = [(0, 0, 10, 10), (20, 0, 30, 10)]
>>> _overlaps((5, 5, 15, 15), boxes), _overlaps((11, 0, 19, 10), boxes)
(True, False)
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from report.content import band_label  # noqa: E402

KIND_STYLE = {"rule": ("o", "#d62728"), "any": ("s", "#9467bd"), "learned": ("D", "#2ca02c"),
              "model": ("*", "#1f77b4")}
# where a point's number may go, in points from the point: nearest first, then further out in rings
_DIRECTIONS = ((5, 5), (5, -12), (-12, 5), (-12, -12), (0, 9), (0, -16), (9, -3), (-16, -3))
_OFFSETS = tuple((dx * ring, dy * ring) for ring in (1.0, 1.8, 2.6, 3.4, 4.2) for dx, dy in _DIRECTIONS)


def _overlaps(box: tuple, boxes: list[tuple]) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) overlaps any of ``boxes``."""
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def _extent(text, renderer) -> tuple:
    e = text.get_window_extent(renderer)
    return (e.x0, e.y0, e.x1, e.y1)


def place_labels(ax, xs, ys, labels: list[str], taken: list[tuple] | None = None) -> list:
    """Write each label beside its point at the first offset where it overlaps no label placed before it (nor
    a box of ``taken``, display coordinates); returns the texts."""
    renderer = ax.figure.canvas.get_renderer()
    boxes, texts = list(taken or []), []
    for x, y, label in zip(xs, ys, labels):
        text = None
        for dx, dy in _OFFSETS:
            if text is not None:
                text.remove()
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                               fontweight="bold")
            if not _overlaps(_extent(text, renderer), boxes):
                break
        boxes.append(_extent(text, renderer))
        texts.append(text)
    return texts


def volume(curve: pd.DataFrame, points: pd.DataFrame, capacity: int) -> plt.Figure:
    """Share converting (left) and converting accounts a week (right) against accounts called a week: the
    model's ranking as a line, each PQL definition as a point numbered as in the table beside the chart (row
    order of ``points``), the sales capacity as a dashed line; the legend below the axes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    top = max(float(points["per_week"].max()) if len(points) else 0.0, 2.0 * capacity) * 1.1
    shown = curve[curve["per_week"] <= top]
    numbers = [str(i) for i in range(1, len(points) + 1)]
    for ax, column, label in ((left, "precision", "share that converts (%)"),
                              (right, "conversions_per_week", "converting accounts a week")):
        scale = 100.0 if column == "precision" else 1.0
        ax.plot(shown["per_week"], shown[column] * scale, color="#1f77b4", lw=2, label="model (its top accounts)")
        for kind in dict.fromkeys(points["kind"]):
            mine = points[points["kind"] == kind]
            marker, color = KIND_STYLE.get(kind, ("o", "#7f7f7f"))
            ax.scatter(mine["per_week"], mine[column] * scale, marker=marker, s=60, color=color, zorder=3,
                       label={"rule": "hand rule", "any": "any hand rule", "learned": "learned list",
                              "model": "model tier 1"}.get(kind, kind))
        ax.axvline(capacity, color="grey", ls="--", lw=1, label=f"sales capacity ({capacity} a week)")
        ax.set(xlabel="accounts handed to sales a week", ylabel=label, xlim=(0, top))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    left.set_title("How many of the accounts called convert", fontsize=10)
    right.set_title("How many converting accounts sales reaches", fontsize=10)
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.canvas.draw()
    for ax, column, scale in ((left, "precision", 100.0), (right, "conversions_per_week", 1.0)):
        place_labels(ax, points["per_week"].to_numpy(float), points[column].to_numpy(float) * scale, numbers)
    return fig


def calibration_bars(bands: pd.DataFrame) -> plt.Figure:
    """Per score band (equal numbers of accounts): the average score given and the share that converted, side
    by side, in percent; each band labelled by its score range on two short lines."""
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(bands))
    ax.bar(x - 0.2, bands["mean_score"] * 100, width=0.4, label="score given (average)", color="#9ecae1")
    ax.bar(x + 0.2, bands["converted"] * 100, width=0.4, label="converted", color="#1f77b4")
    ticks = [band_label(lo, hi).replace(" to ", "\nto ") for lo, hi in zip(bands["low"], bands["high"])]
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set(xlabel="accounts grouped by their score (equal numbers of accounts in each group)", ylabel="percent",
           title="Scores against what happened")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def close(fig: plt.Figure) -> None:
    """Free a figure's memory (pyplot keeps every open figure alive)."""
    plt.close(fig)
