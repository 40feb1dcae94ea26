"""The backtest's figures (matplotlib, no screen needed): reliability, gains/lift, PR curve, importance."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402


def reliability(test: pd.DataFrame, bins: int = 10) -> plt.Figure:
    """Observed conversion rate vs predicted probability, before and after calibration."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = float(max(test["score"].max(), test["uncalibrated"].max(), 0.05))
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="perfect")
    for column, label in (("uncalibrated", "model"), ("score", "calibrated")):
        rate, mean = calibration_curve(test["label"], test[column], n_bins=bins, strategy="quantile")
        ax.plot(mean, rate, marker="o", label=label)
    ax.set(xlabel="predicted probability", ylabel="observed conversion rate", title="Reliability (test snapshots)")
    ax.legend()
    return fig


def gains(table: pd.DataFrame) -> plt.Figure:
    """Cumulative gains and lift by score decile."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    share = np.r_[0, table["decile"] / 10]
    left.plot(share, np.r_[0, table["cumulative_gain"]], marker="o", label="model")
    left.plot([0, 1], [0, 1], ls="--", c="grey", label="random")
    left.set(xlabel="share of accounts contacted (by score)", ylabel="share of conversions captured",
             title="Cumulative gains")
    left.legend()
    right.bar(table["decile"], table["lift"])
    right.axhline(1, c="grey", ls="--")
    right.set(xlabel="score decile (1 = highest)", ylabel="lift", title="Lift by decile")
    fig.tight_layout()
    return fig


def pr_curve(test: pd.DataFrame, comparison: pd.DataFrame | None = None) -> plt.Figure:
    """Precision-recall curve of the model, with each hand-defined rule as a point."""
    fig, ax = plt.subplots(figsize=(6, 5))
    precision, recall, _ = precision_recall_curve(test["label"], test["score"])
    ax.plot(recall, precision, label="model")
    if comparison is not None:
        for _, row in comparison.iterrows():
            ax.scatter(row["recall"], row["precision"], marker="x")
            ax.annotate(row["name"], (row["recall"], row["precision"]), fontsize=8)
    ax.axhline(test["label"].mean(), c="grey", ls="--", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test snapshots)")
    ax.legend()
    return fig


def importance(values: pd.Series, top: int = 20) -> plt.Figure:
    """Mean absolute contribution (log-odds) of the top features on the test snapshots."""
    show = values.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(show) + 1))
    ax.barh(show.index, show.values)
    ax.set(xlabel="mean |contribution| (log-odds)", title="Feature importance")
    fig.tight_layout()
    return fig


def all_figures(result) -> dict[str, plt.Figure]:
    """Every figure of a training result, by file name."""
    return {"reliability.png": reliability(result.test), "gains_lift.png": gains(result.deciles),
            "pr_curve.png": pr_curve(result.test, result.comparison),
            "feature_importance.png": importance(result.importance)}


def close(figures: dict[str, plt.Figure]) -> None:
    """Free the figures' memory (pyplot keeps every open figure alive)."""
    for fig in figures.values():
        plt.close(fig)
