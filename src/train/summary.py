"""``summary.json`` of a training run (contract section 4) and the text printed at the end of a run."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .compare import readable
from .pipeline import TrainResult

SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece")
RULE_KEYS = ("name", "flagged", "precision", "recall", "lift", "model_precision", "model_recall", "model_lift",
             "rule_only", "rule_only_rate", "model_only", "model_only_rate", "both", "both_rate")


def _clean(value):
    """JSON has no NaN: missing numbers are null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def summary(result: TrainResult, run_id: str, model_uri: str, model_version: str, champion: bool) -> dict:
    """The machine-readable summary of a training run."""
    return {
        "run_id": run_id,
        "model_uri": model_uri,
        "model_version": model_version,
        "champion": champion,
        "n_train": result.counts["n_train"],
        "n_calibration": result.counts["n_calibration"],
        "n_test": result.counts["n_test"],
        "base_rate": _clean(result.metrics["base_rate"]),
        "split": result.split.bounds(),
        "metrics": {k: _clean(result.metrics[k]) for k in SUMMARY_METRICS},
        "metrics_uncalibrated": {k: _clean(result.metrics[f"uncalibrated_{k}"]) for k in SUMMARY_METRICS},
        "at_capacity": {k.removesuffix("_at_capacity"): _clean(v) for k, v in result.metrics.items()
                        if k.endswith("_at_capacity")},
        "rules": [{k: _clean(row[k]) for k in RULE_KEYS} for row in result.comparison.to_dict("records")],
        "pql_tiers": [{k: _clean(v) for k, v in row.items()} for row in result.tier_rates.to_dict("records")],
    }


def write_summary(data: dict, path: Path) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def report(result: TrainResult, data: dict) -> str:
    """The readable end of a training run: metrics, learned vs rules, tiers."""
    m = result.metrics
    lines = [
        f"test snapshots {data['split']['test'][0]} .. {data['split']['test'][1]}: {data['n_test']:,} account-snapshots, "
        f"base rate {m['base_rate']:.2%}",
        f"ROC AUC {m['roc_auc']:.3f}  PR AUC {m['pr_auc']:.3f}  Brier {m['brier']:.4f}  log loss {m['log_loss']:.4f}  "
        f"ECE {m['ece']:.4f} (uncalibrated {m['uncalibrated_ece']:.4f})",
        f"at capacity: precision {m['precision_at_capacity']:.1%}, recall {m['recall_at_capacity']:.1%}, "
        f"lift {m['lift_at_capacity']:.1f}",
        "",
        "Learned model vs hand-defined PQL rules (test snapshots; the model flags as many accounts as each rule):",
        readable(result.comparison),
        "",
        "Conversion rate by PQL tier (1 = high intent + good fit, 2 = good fit + low intent, 3 = high intent + poor fit):",
        result.tier_rates.to_string(index=False),
        "",
        f"model {data['model_uri']} (run {data['run_id']}){' is the new champion' if data['champion'] else ''}",
    ]
    return "\n".join(lines)
