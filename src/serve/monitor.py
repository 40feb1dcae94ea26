"""What each scoring run records: volumes per tier, the score distribution, drift against training."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.drift import psi

CAPACITY_SLACK = 1.5


@dataclass(frozen=True)
class MonitoringConfig:
    """Drift checks of each scoring run against the training snapshots (the ``monitoring`` config group)."""

    psi_warn: float = 0.2  # population stability index above this: a warning


@dataclass
class Monitoring:
    """What one scoring run measured: metrics for MLflow, the drift table and the warnings to print."""

    metrics: dict[str, float]
    drift: pd.DataFrame  # feature, psi, drifted
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sizing:
    """What a model's tier 1 was sized for: the weekly capacity, and the accounts called from each snapshot of
    its training grid (the capacity over ``every_days``: a weekly grid calls the weekly capacity at once)."""

    per_week: int
    per_snapshot: int
    every_days: int


def sized_for(meta: dict) -> Sizing | None:
    """The sizing a model's metadata records (None for a model trained before it recorded its capacity).

    >>> sized_for({"capacity_per_week": 70, "calls_per_snapshot": 10, "every_days": 1})
    Sizing(per_week=70, per_snapshot=10, every_days=1)
    >>> sized_for({"capacity_per_week": 50}).per_snapshot, sized_for({}) is None
    (50, True)
    """
    if not meta.get("capacity_per_week"):
        return None
    week = int(meta["capacity_per_week"])
    return Sizing(week, int(meta.get("calls_per_snapshot") or week), int(meta.get("every_days") or 7))


def monitor(scores: pd.DataFrame, features: pd.DataFrame, reference: dict, sizing: Sizing | None,
            psi_warn: float) -> Monitoring:
    """Counts per tier, score quantiles, PSI of each feature and of the score vs the training snapshots."""
    metrics: dict[str, float] = {"accounts_scored": float(len(scores))}
    tiers = scores["pql_tier"].astype("string").fillna("none")
    for tier in ("1", "2", "3", "none"):
        metrics[f"pql_tier_{tier}"] = float((tiers == tier).sum())
    for name in ("intent_tier", "fit_tier"):
        for value, n in scores[name].value_counts().items():
            metrics[f"{name}_{value}"] = float(n)
    if len(scores):
        for q in (0.1, 0.5, 0.9, 0.99):
            metrics[f"score_p{int(q * 100)}"] = float(np.quantile(scores["score"], q))
        metrics["score_mean"] = float(scores["score"].mean())
    rows = []
    for name, ref in reference.items():
        values = scores["score"] if name == "score" else features.get(name)
        if values is not None and len(values):
            rows.append({"feature": name, "psi": psi(ref, values)})
    drift = pd.DataFrame(rows, columns=["feature", "psi"]).sort_values("psi", ascending=False, kind="stable")
    drift["drifted"] = drift["psi"] > psi_warn
    metrics.update({f"psi_{r.feature}": float(r.psi) for r in drift.itertuples()})
    metrics["features_drifted"] = float(drift["drifted"].sum())
    warnings = []
    if drift["drifted"].any():
        top = ", ".join(f"{r.feature} ({r.psi:.2f})" for r in drift[drift["drifted"]].head(5).itertuples())
        warnings.append(f"drift: {int(drift['drifted'].sum())} columns have PSI > {psi_warn} vs training: {top}")
    tier1 = metrics["pql_tier_1"]
    size = sizing.per_snapshot if sizing else 0
    metrics["pql_tier_1_per_capacity"] = tier1 / size if size else float("nan")
    # tier 1 is sized to the capacity on the newest snapshots of training: warn when today is far off, not
    # on the ordinary week-to-week wobble
    if size and tier1 > CAPACITY_SLACK * size:
        grid = "" if sizing.every_days == 7 else f" (snapshots every {sizing.every_days} days: {size} at a time)"
        warnings.append(f"PQL tier 1 holds {int(tier1):,} accounts, more than {CAPACITY_SLACK:g}x the {size} the model "
                        f"was sized for (a sales capacity of {sizing.per_week} a week{grid}): the eligible pool has "
                        f"grown or shifted; retrain")
    return Monitoring(metrics, drift.reset_index(drop=True), warnings)
