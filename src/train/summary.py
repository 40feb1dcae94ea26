"""``summary.json`` of a training run (contract section 4) and the text printed at the end of a run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from features.data.sql import hide_passwords
from features.io import write_text
from features.text_table import text_table
from train.compare import readable
from train.result import TrainResult

SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "mean_score", "calibration_in_the_large",
                   "calibration_slope")
RULE_KEYS = ("name", "flagged", "precision", "recall", "lift", "model_precision", "model_recall", "model_lift",
             "rule_only", "rule_only_rate", "model_only", "model_only_rate", "both", "both_rate", "added_per_week",
             "added_low", "added_high", "verdict")


def _clean(value):
    """JSON has no NaN: missing numbers are null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def summary(result: TrainResult, run_id: str, model_uri: str, model_version: str, champion: bool) -> dict:
    """The machine-readable summary of a training run: pooled backtest metrics, folds, health, rules, tiers."""
    bounds = result.plan.bounds()
    m = result.metrics
    return _clean({
        "run_id": run_id,
        "model_uri": model_uri,
        "model_version": model_version,
        "champion": champion,
        "n_train": result.counts["n_train"],
        "n_test": result.counts["n_test"],
        "base_rate": m["base_rate"],
        # calibration is cross-fitted on the folds' out-of-time predictions: its period is the test period
        "split": {"train": bounds["train"], "calibration": bounds["test"], "test": bounds["test"],
                  "reported": _reported(result.folds) or bounds["test"]},
        "metrics": {k: m[k] for k in SUMMARY_METRICS},
        "metrics_uncalibrated": {k: m[f"uncalibrated_{k}"] for k in SUMMARY_METRICS},
        "baseline": {k.removeprefix("baseline_"): v for k, v in m.items() if k.startswith("baseline_")},
        "calibration": result.calibration,
        "headline": headline(result),
        "headline_warnings": result.health.get("verdict_warnings", []),
        "model_choice": model_choice(result),
        "at_capacity": {k.removesuffix("_at_capacity"): v for k, v in m.items() if k.endswith("_at_capacity")},
        "folds": result.folds,
        "fold_spread": {k: v for k, v in m.items() if k.endswith(("_fold_mean", "_fold_std"))},
        "health": result.health,
        "notes": result.notes,
        "rules": [{k: row.get(k) for k in RULE_KEYS} for row in result.comparison.to_dict("records")],
        "pql_tiers": result.tier_rates.to_dict("records"),
        "fit_sizing": result.fit_sizing,
        "learned_definitions": result.definitions.to_dict("records"),
        "learned_overlap": result.learned_overlap.to_dict("records"),
        "capacity": _capacity(result.capacity),
        "revenue": None if result.revenue is None else result.revenue.to_dict("records"),
        "counts": result.counts,
    })


def headline(result: TrainResult) -> str:
    """One sentence on whether to trust the model over the definitions: what it finds a week at the sales
    capacity beyond the best hand rule and beyond the learned list, each in the words of its interval (the
    same figures as the capacity table beneath it, so the two never disagree)."""
    c = result.capacity
    if not c:
        return "no comparison: the backtest has no test snapshot"
    parts = []
    for key, label in (("versus_rule", "the best hand rule"), ("versus_learned", "the learned list")):
        versus = c.get(key)
        if versus:
            name = "" if label == "the learned list" else f" ({versus['name']})"
            parts.append(f"against {label}{name} it {versus['verdict']}")
    head = (f"At {c['capacity_per_week']} calls a week the model converts {c['model_conversions_per_week']:.1f} a "
            f"week")
    return head + (" -- " + "; ".join(parts) if parts else " (no definition to compare with)")


def model_choice(result: TrainResult) -> dict:
    """Which model ships and why: ``model=auto``'s candidates with their scores and their differences from the
    one that ships (each with its interval), and the candidate that scored each reported fold."""
    ships = str(result.scorer.meta.get("model", result.scorer.model.kind))
    fold_models = {int(f["fold"]): f.get("model") for f in result.folds}
    if result.candidates is None:
        return {"mode": ships, "ships": ships, "fold_models": fold_models}
    table = result.candidates
    rows = table.to_dict("records")
    others = [r for r in rows if not r["ships"] and r.get("eligible")]
    lines = [f"{r['candidate']}: {r['auc_verdict']}; at capacity {r['calls_verdict']}" for r in others]
    return {"mode": "auto", "ships": ships, "fold_models": fold_models, "candidates": rows,
            "why": (f"{ships} ships: the best mean within-fold ranking over every fold; the backtest's folds after the "
                    f"first were each scored by the candidate best on the folds before them"),
            "versus_shipped": lines}


def _capacity(data: dict) -> dict:
    """The capacity figures with their per-definition table as records (JSON)."""
    out = {k: v for k, v in data.items() if k != "definitions"}
    if isinstance(data.get("definitions"), pd.DataFrame):
        out["definitions"] = data["definitions"].to_dict("records")
    return out


def _learned_text(result: TrainResult) -> list[str]:
    if result.learned is None:
        return []
    table = result.definitions
    head = (f"Learned PQL definitions (budget {result.learned.budget:.0f} accounts per snapshot; they flag about "
            f"{result.learned.volume:.0f} on the newest training snapshots; learned_rules.yaml is the rules file):")
    if table.empty:
        return [head, "  (no rule beats the base rate with enough converters within the budget)", ""]
    lines = [head]
    for row in table.itertuples():
        lines.append(f"  {row.name}: {row.expression}")
        lines.append(f"      {row.words}")
        lines.append(f"      in-sample on the backtest rows (the production list learned from them): {row.flagged} "
                     f"flagged, precision {row.precision:.1%}; in {row.stability:.0%} of the fold lists")
    lines.append("  (out of fold, the fold lists -- each learned before its fold -- are the 'learned' row above)")
    if not result.learned_overlap.empty:
        lines.append("Conversions found by the learned list only / by each hand rule only (backtest):")
        lines += [f"  {r.rule}: learned only {r.learned_only_converted} of {r.learned_only}, rule only "
                  f"{r.rule_only_converted} of {r.rule_only}, both {r.both_converted} of {r.both}"
                  for r in result.learned_overlap.itertuples()]
    return [*lines, ""]


def _capacity_text(result: TrainResult) -> list[str]:
    c = result.capacity
    if not c:
        return []
    lines = [f"At a capacity of {c['capacity_per_week']} accounts a week the model converts "
             f"{c['model_conversions_per_week']:.1f} a week (95% intervals: a paired bootstrap over the accounts):"]
    table = c.get("definitions")
    if isinstance(table, pd.DataFrame) and len(table) and "verdict" in table:
        for row in table.itertuples():
            lines.append(f"  vs {row.name} (precision {row.precision:.1%}, {row.calls_per_week:.0f} calls a week, "
                         f"{row.conversions_at_capacity:.1f} conversions): the model {row.verdict}")
    return [*lines, ""]


def _choice_text(result: TrainResult) -> list[str]:
    if result.candidates is None:
        return []
    t = result.candidates
    show = pd.DataFrame({"candidate": t["candidate"], "ships": t["ships"].map({True: "yes", False: ""}),
                         "mean fold AUC": t.filter(like="_mean").iloc[:, 0].map("{:.3f}".format),
                         "within-week AUC": t["within_week_roc_auc"].map("{:.3f}".format),
                         "conv/week at cap": t["conversions_per_week_at_capacity"].map("{:.1f}".format),
                         "scored folds": t["scored_folds"]})
    choice = model_choice(result)
    return ["model=auto: the backtest chose the model (every candidate on every fold; " + choice["why"] + "):",
            text_table(show), *(f"  {line}" for line in choice["versus_shipped"]), ""]


def _pooled_text(m: dict, folds: list[dict]) -> str:
    """Why the pooled ROC AUC differs from the folds' mean, when it does by more than a hair."""
    rates = [f["base_rate"] for f in folds if f.get("reported", True)]
    gap = m["roc_auc"] - m["roc_auc_fold_mean"]
    if abs(gap) < 0.01 or len(rates) < 2:
        return ""
    return (f" (pooled {'below' if gap < 0 else 'above'} the folds' mean: the pooled figure ranks every fold's "
            f"accounts together, and the folds' base rates differ, {min(rates):.2%} to {max(rates):.2%})")


def _revenue_text(result: TrainResult) -> list[str]:
    if result.revenue is None:
        return []
    t = result.revenue
    show = pd.DataFrame({"definition": t["name"], "per week": t["per_week"].map("{:.0f}".format),
                         "converted": t["converted"], "revenue/week at capacity":
                         t["revenue_per_week_at_capacity"].map("{:,.0f}".format),
                         "model, same volume": t["model_same_volume_revenue"].map("{:,.0f}".format)})
    return ["Revenue captured at capacity (backtest; expected value = probability x predicted amount ranks the model):",
            text_table(show), ""]


def write_summary(data: dict, path: Path) -> Path:
    """Write ``summary.json`` (indented JSON) to ``path`` atomically (a full disk leaves no cut-off file)."""
    return write_text(json.dumps(data, indent=2), path)


def _folds_text(folds: list[dict]) -> str:
    show = pd.DataFrame([{"fold": f"{f['fold']}" + ("" if f.get("reported", True) else " (chose only)"),
                          "model": f.get("model", ""), "test": f"{f['test'][0][:10]} .. {f['test'][1][:10]}",
                          "trained on": f"{f['train'][0][:10]} .. {f['train'][1][:10]}", "rows": f["n_test"],
                          "base rate": f"{f['base_rate']:.2%}",
                          "level": f"{f['mean_score'] / f['base_rate'] - 1:+.0%}" if f["base_rate"] else "",
                          "ROC AUC": f"{f['roc_auc']:.3f}",
                          "PR AUC": f"{f['pr_auc']:.3f}", "prec@cap": f"{f['precision_at_capacity']:.1%}",
                          "tier 1/snapshot": f"{f['tier1_per_snapshot']:.0f}"} for f in folds])
    return text_table(show)


def _tiers_text(table: pd.DataFrame) -> str:
    show = pd.DataFrame({"tier": table["pql_tier"], "accounts": table["accounts"],
                         "per snapshot": table["per_snapshot"].map("{:.0f}".format), "converted": table["converted"],
                         "rate": [f"{r:.1%} ({lo:.1%}-{hi:.1%})" for r, lo, hi in
                                  zip(table["conversion_rate"], table["rate_low"], table["rate_high"])]})
    return text_table(show)


def _health_text(result: TrainResult) -> list[str]:
    return ["Data health:" if result.warnings else "Data health: no warnings",
            *(f"  - {w}" for w in result.warnings), *result.notes]


def _reported(folds: list[dict]) -> list[str] | None:
    """First and last as-of of the folds the run reports (with ``model=auto``, every fold but the first, which
    only informed the choice of model)."""
    shown = [f for f in folds if f.get("reported", True)]
    return [min(f["test"][0] for f in shown), max(f["test"][1] for f in shown)] if shown else None


def _metrics_text(result: TrainResult, data: dict) -> list[str]:
    m = result.metrics
    baseline = ""
    if "baseline_roc_auc" in m:
        baseline = (f"\nbaseline ({result.folds and 'logistic'}): ROC AUC {m['baseline_roc_auc']:.3f}  "
                    f"PR AUC {m['baseline_pr_auc']:.3f}  precision at capacity {m['baseline_precision_at_capacity']:.1%}")
    return [
        f"pooled over the reported folds ({data['split']['reported'][0][:10]} .. {data['split']['reported'][1][:10]}): "
        f"{data['n_test']:,} account-snapshots, base rate {m['base_rate']:.2%}",
        f"ROC AUC {m['roc_auc']:.3f} (folds {m['roc_auc_fold_mean']:.3f} ± {m['roc_auc_fold_std']:.3f})  "
        f"PR AUC {m['pr_auc']:.3f}  Brier {m['brier']:.4f}  log loss {m['log_loss']:.4f}" + _pooled_text(m, result.folds),
        f"calibration ({result.calibration['method']}, chosen on held-out log loss and level): mean score "
        f"{m['mean_score']:.2%} vs base rate {m['base_rate']:.2%} ({m['mean_score'] / max(m['base_rate'], 1e-12) - 1:+.1%}), "
        f"slope {m['calibration_slope']:.2f}, ECE {m['ece']:.4f} (uncalibrated {m['uncalibrated_ece']:.4f})",
        f"at capacity ({result.scorer.tiers.capacity} per snapshot): precision {m['precision_at_capacity']:.1%}, "
        f"recall {m['recall_at_capacity']:.1%}, lift {m['lift_at_capacity']:.1f}" + baseline]


def report(result: TrainResult, data: dict) -> str:
    """The readable end of a training run: health, folds, pooled metrics, learned vs rules, tiers, verdict and
    promotion; a section with nothing to say is left out, sections are one blank line apart."""
    rules = [] if result.comparison.empty else [
        "Learned model vs hand-defined PQL rules (backtest folds; the model flags as many accounts as each rule):",
        readable(result.comparison)]
    tiers = [] if result.tier_rates.empty else [
        "Conversion rate by PQL tier (1 = high intent + good fit, 2 = good fit + low intent, 3 = high intent + poor "
        "fit; 95% interval):", _tiers_text(result.tier_rates)]
    sections = [
        _health_text(result),
        [f"Rolling backtest: {len(result.folds)} folds, each scored by a model trained only on snapshots whose labels "
         f"had matured before it ({result.counts['n_train_snapshots']} of {result.counts['n_snapshots']} snapshots "
         f"train the production model):", _folds_text(result.folds)] if result.folds else [],
        _metrics_text(result, data), _choice_text(result), rules, _learned_text(result), _capacity_text(result),
        _revenue_text(result), tiers,
        [f"Verdict: {data.get('headline') or headline(result)}",
         *(f"  but: {w}" for w in result.health.get("verdict_warnings", []))],
        [f"model {data['model_uri']} (run {data['run_id']}) "
         f"{'is the new champion' if data['champion'] else 'is the challenger'}: "
         f"{data.get('promotion', {}).get('reason', '')}"],
    ]
    return "\n\n".join("\n".join(lines).strip("\n") for lines in sections if any(line.strip() for line in lines))


def closing(report_html: Path, summary_json: Path, experiment: str, runs_page: str, uri: str) -> str:
    """The last lines a training run prints: where its MLflow runs are (the store's password masked), then its
    summary and report files."""
    return "\n".join([f"MLflow: experiment '{experiment}' -- `mlflow ui --backend-store-uri {hide_passwords(uri)}`, "
                      f"then {runs_page}",
                      f"summary: {summary_json}", f"report:  {report_html}"])
