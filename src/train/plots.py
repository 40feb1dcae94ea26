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


# -- the revenue leader's report: plain axes (accounts a week, percent), no model jargon ------------------

_KIND_STYLE = {"rule": ("o", "#d62728"), "any": ("s", "#9467bd"), "learned": ("D", "#2ca02c"),
               "model": ("*", "#1f77b4")}


def volume(curve: pd.DataFrame, points: pd.DataFrame, capacity: int) -> plt.Figure:
    """Share converting (left) and converting accounts a week (right) against accounts called a week: the
    model's ranking as a line, each PQL definition as a labelled point, the sales capacity as a dashed line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    top = max(float(points["per_week"].max()) if len(points) else 0.0, 2.0 * capacity) * 1.1
    shown = curve[curve["per_week"] <= top]
    for ax, column, label in ((left, "precision", "share that converts"),
                              (right, "conversions_per_week", "converting accounts a week")):
        scale = 100.0 if column == "precision" else 1.0
        ax.plot(shown["per_week"], shown[column] * scale, color="#1f77b4", lw=2, label="model (its top accounts)")
        for row in points.itertuples():
            marker, color = _KIND_STYLE.get(row.kind, ("o", "#7f7f7f"))
            ax.scatter(row.per_week, getattr(row, column) * scale, marker=marker, s=70, color=color, zorder=3)
            ax.annotate(str(row.name), (row.per_week, getattr(row, column) * scale), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.axvline(capacity, color="grey", ls="--", lw=1, label=f"sales capacity ({capacity} a week)")
        ax.set(xlabel="accounts handed to sales a week", ylabel=label + (" (%)" if scale == 100 else ""),
               xlim=(0, top))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    left.set_title("How many of the accounts called convert")
    right.set_title("How many converting accounts sales reaches")
    left.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def calibration_bars(bands: pd.DataFrame) -> plt.Figure:
    """Per score band: the average score given and the share that converted, side by side, in percent."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(bands))
    ax.bar(x - 0.2, bands["mean_score"] * 100, width=0.4, label="score given (average)", color="#9ecae1")
    ax.bar(x + 0.2, bands["converted"] * 100, width=0.4, label="converted", color="#1f77b4")
    ticks = [f"{lo:.1%}-{hi:.1%}" if hi < 0.1 else f"{lo:.0%}-{hi:.0%}" for lo, hi in zip(bands["low"], bands["high"])]
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set(xlabel="accounts grouped by their score", ylabel="percent", title="Scores against what happened")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
