"""What the backtest measured: pooled and per-fold metrics, the tier table, feature importance, counts.

Rankings use the raw log-odds (calibration keeps their order, and they have no ties); probability metrics
use the calibrated score. Pure functions of the pooled backtest rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import naming as nm

from train import calibrate
from train.backtest import Backtest, FoldResult
from train.design import Design
from train.folds import Snapshots
from train.evaluate import probability_metrics, rate_interval, top_k_flags, volume_metrics
from train.models import FittedModel
from train.production import SAMPLE, sample
from train.settings import TrainSettings

FOLD_METRICS = ("roc_auc", "pr_auc", "log_loss", "ece", "precision_at_capacity", "lift_at_capacity")


def _volume(rank: np.ndarray, y: np.ndarray, snapshot: np.ndarray, settings: TrainSettings) -> dict[str, float]:
    return volume_metrics(rank, y, snapshot, settings.calls_per_snapshot, settings.backtest.top_fractions)


def pooled_metrics(test: pd.DataFrame, settings: TrainSettings) -> dict[str, float]:
    """Probability and volume metrics over every fold's rows: calibrated, uncalibrated, and the baseline's
    (when the backtest fitted one; cross-fitted sigmoid on its log-odds)."""
    y, snapshot = test["label"].to_numpy(), test["as_of"].to_numpy()
    metrics = probability_metrics(test["score"].to_numpy(), y, settings.backtest.ece_bins)
    metrics.update(_volume(test["log_odds"].to_numpy(), y, snapshot, settings))
    metrics.update({f"uncalibrated_{k}": v for k, v in probability_metrics(test["uncalibrated"].to_numpy(), y).items()})
    if "baseline_log_odds" in test:
        base = calibrate.cross_fitted(test["baseline_log_odds"].to_numpy(), y, test["fold"].to_numpy(), "sigmoid")
        metrics.update({f"baseline_{k}": v for k, v in probability_metrics(base, y).items() if k in ("roc_auc", "pr_auc")})
        metrics.update({f"baseline_{k}": v for k, v in _volume(test["baseline_log_odds"].to_numpy(), y, snapshot,
                                                                settings).items() if k == "precision_at_capacity"})
    return metrics


def fold_summary(result: FoldResult, test: pd.DataFrame, design: Design, settings: TrainSettings) -> dict:
    """One fold's row of ``folds``: its period, sizes, trees, metrics, tier 1 volume and fresh accounts."""
    y = test["label"].to_numpy()
    age = design.X[nm.DAYS_SINCE_SIGNUP].to_numpy()[result.rows]
    m = probability_metrics(test["score"].to_numpy(), y, settings.backtest.ece_bins)
    m.update(_volume(test["log_odds"].to_numpy(), y, test["as_of"].to_numpy(), settings))
    flags = top_k_flags(test["log_odds"].to_numpy(), test["as_of"].to_numpy(), settings.calls_per_snapshot)
    n_snap = len(result.fold.test)
    return {"fold": result.fold.index, **result.fold.bounds(), "model": result.chosen, "n_train": result.n_train,
            "n_test": int(len(test)),
            "trees": result.trees, "n_features": len(result.features), "positives": int(y.sum()),
            "tier1_per_snapshot": float((test["pql_tier"] == 1).sum() / n_snap),
            "fresh_accounts": int((age < settings.snapshots.every_days).sum()),
            "young_accounts": int((age < max(settings.features.windows)).sum()), "flagged_at_capacity": int(flags.sum()),
            **{k: m[k] for k in (*FOLD_METRICS, "brier", "base_rate", "mean_score", "calibration_in_the_large")}}


def fold_summaries(pooled: pd.DataFrame, test: pd.DataFrame, design: Design, backtest: Backtest,
                   settings: TrainSettings) -> list[dict]:
    """Every fold's summary (:func:`fold_summary`), oldest first: a reported fold from ``test`` (calibrated
    scores); a fold that only informed the choice of model (``reported`` False, see
    :func:`train.selection.reported`) from ``pooled``, with the uncalibrated probability as its score."""
    shown = set(test["fold"].unique())
    out = []
    for r in backtest.results:
        if r.fold.index in shown:
            part = test[test["fold"] == r.fold.index]
        else:
            part = pooled[pooled["fold"] == r.fold.index]
            part = part.assign(score=1.0 / (1.0 + np.exp(-part["log_odds"].to_numpy())))
        out.append({**fold_summary(r, part, design, settings), "reported": r.fold.index in shown})
    return out


def fold_spread(folds: list[dict]) -> dict[str, float]:
    """Mean and standard deviation over the reported folds of each of :data:`FOLD_METRICS`."""
    out = {}
    folds = [f for f in folds if f.get("reported", True)]
    for name in FOLD_METRICS:
        values = np.array([f[name] for f in folds], dtype=float)
        out[f"{name}_fold_mean"], out[f"{name}_fold_std"] = float(np.nanmean(values)), float(np.nanstd(values))
    return out


def learned_metrics(comparison: pd.DataFrame, n_test_snapshots: int, n_rules: int) -> dict[str, float]:
    """The learned list's figures from its row of the comparison (the last one)."""
    row = comparison.iloc[-1]
    return {"learned_precision": row["precision"], "learned_model_precision": row["model_precision"],
            "learned_per_snapshot": row["flagged"] / max(n_test_snapshots, 1), "learned_rules": n_rules}


def tier_table(test: pd.DataFrame, n_snapshots: int) -> pd.DataFrame:
    """Accounts, conversions, weekly volume and conversion rate (95% Wilson interval) of each PQL tier."""
    tier = test["pql_tier"].astype("string").fillna("none")
    table = test.assign(pql_tier=tier).groupby("pql_tier").agg(accounts=("label", "size"),
                                                               converted=("label", "sum")).reset_index()
    table["per_snapshot"] = table["accounts"] / max(n_snapshots, 1)
    table["conversion_rate"] = table["converted"] / table["accounts"]
    bounds = [rate_interval(c, n) for c, n in zip(table["converted"], table["accounts"])]
    table["rate_low"], table["rate_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return table


def importance(model: FittedModel, design: Design, test_times: list[pd.Timestamp]) -> pd.Series:
    """Mean absolute contribution (log-odds) of each feature on a sample of the test snapshots, largest first."""
    rows = sample(design.X[design.rows(test_times)], SAMPLE // 5)
    return model.contributions(rows).drop(columns="bias").abs().mean().sort_values(ascending=False)


def counts(design: Design, snapshots: Snapshots, backtest: Backtest, n_test: int, n_features: int,
           kept: int | None, first_looks: int = 0) -> dict[str, int]:
    """Rows, features, folds and snapshots of the run (``kept``: the production model's sampled rows;
    ``first_looks``: the rows of accounts looked at on their first midnight)."""
    plan = snapshots.plan
    out = {"n_train": int(design.rows(plan.final_train).sum()), "n_test": n_test, "n_features": n_features,
           "n_folds": len(backtest.results), "n_snapshots": len(snapshots.times),
           "n_train_snapshots": len(plan.final_train), "n_censored_snapshots": len(snapshots.censored),
           "n_first_looks": int(first_looks)}
    return out if kept is None else {**out, "n_train_sampled": kept}


def run_metrics(test: pd.DataFrame, folds: list[dict], comparison: pd.DataFrame, capacity: dict,
                learned_rules: int | None, n_test_snapshots: int, settings: TrainSettings,
                candidates: pd.DataFrame | None = None) -> dict[str, float]:
    """Every metric of the run: pooled, spread over folds, base rate, the learned list's (``learned_rules``: its
    length, None when the run learned none), the verdicts (what the model adds over each definition, at its
    volume and at the capacity, with the 95% interval) and each candidate's scores -- so runs chart against
    each other in MLflow."""
    metrics = {**pooled_metrics(test, settings), **fold_spread(folds), "base_rate": float(test["label"].mean())}
    if learned_rules is not None:
        metrics.update(learned_metrics(comparison, n_test_snapshots, learned_rules))
    if capacity.get("added_conversions_per_week") is not None:
        metrics["added_conversions_per_week_at_capacity"] = capacity["added_conversions_per_week"]
    return {**metrics, **verdict_metrics(comparison, capacity, candidates)}


def metric_name(text: str) -> str:
    """A definition's or candidate's name as a metric key (letters, digits and ``_`` only).

    >>> metric_name("any rule"), metric_name("Pricing page (EU)")
    ('any_rule', 'pricing_page_eu')
    """
    return "_".join("".join(c if c.isalnum() else " " for c in str(text).lower()).split()) or "unnamed"


def verdict_metrics(comparison: pd.DataFrame, capacity: dict, candidates: pd.DataFrame | None) -> dict[str, float]:
    """The comparisons as flat metrics: per definition ``vs_<name>_added_per_week`` (equal volume) and
    ``vs_<name>_at_capacity_added`` with their ``_low``/``_high``; per candidate its mean selection metric,
    within-week ROC AUC and conversions a week at capacity."""
    out: dict[str, float] = {}
    for row in comparison.to_dict("records"):
        if "added_per_week" in row:
            key = f"vs_{metric_name(row['name'])}"
            out.update({f"{key}_added_per_week": row["added_per_week"], f"{key}_added_low": row["added_low"],
                        f"{key}_added_high": row["added_high"]})
    table = capacity.get("definitions")
    if isinstance(table, pd.DataFrame) and "added_per_week" in table:
        for row in table.to_dict("records"):
            key = f"vs_{metric_name(row['name'])}_at_capacity"
            out.update({f"{key}_added": row["added_per_week"], f"{key}_low": row["added_low"],
                        f"{key}_high": row["added_high"]})
    if candidates is not None:
        for row in candidates.to_dict("records"):
            key = f"candidate_{metric_name(row['candidate'])}"
            out.update({f"{key}_within_week_roc_auc": row["within_week_roc_auc"],
                        f"{key}_conversions_per_week_at_capacity": row["conversions_per_week_at_capacity"]})
    return {k: float(v) for k, v in out.items() if v is not None}
