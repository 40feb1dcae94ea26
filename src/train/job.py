"""The training job as one call: config in, tracked run and ``summary.json`` out (``__main__`` and tests use it)."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engines.base import engine_for
from engines.dispatch import build_features  # on the engine that loaded the tables
from features.config import DataConfig
from features.errors import PipelineError
from report.content import report_tables
from report.html import write_report

from train import plots, tracking
from train.pipeline import TrainResult, run_training
from train.promotion import Decision, compare, compare_backtests, has_unseen_rows, incompatibility
from train.scorer import model_input
from train.config import PromotionConfig, TrackingConfig
from train.settings import settings_for
from train.summary import report, summary, write_summary

log = logging.getLogger("pql")


@dataclass
class TrainJob:
    result: TrainResult
    summary: dict
    summary_path: Path
    report: str


def run_job(config: dict[str, Any], out_dir: Path, conf_dir: str | Path | None = None,
            overrides: list[str] = (), sweep: bool = False) -> TrainJob:
    """Load the data, backtest and train, log everything to MLflow, write ``out_dir/summary.json`` and
    ``out_dir/predictions.parquet`` (the backtest's predictions), then decide the promotion.
    ``sweep``: a job of a ``--multirun`` sweep (it never moves the champion unless forced)."""
    from app.command import CONF_DIR

    settings, data, notes = settings_for(config, conf_dir or CONF_DIR)
    tracking_config = TrackingConfig(**config["tracking"])
    tables, load_report = engine_for(config.get("engine")).load_tables(data)  # engine=local or spark
    for line in load_report.lines() + notes:
        log.info(line)
    result = run_training(tables, settings)
    result.notes.extend(notes)
    result.scorer.meta.update(data_source=data_source(data), data_fingerprint=fingerprint(config["data"]))
    example = model_input(result.input_example, result.spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = out_dir / "predictions.parquet"
    result.test.to_parquet(predictions, index=False)
    artifacts = [predictions]
    if result.learned_rules_yaml:  # the learned definitions as a rules file: python -m train rules.file=...
        (out_dir / "learned_rules.yaml").write_text(result.learned_rules_yaml)
        artifacts.append(out_dir / "learned_rules.yaml")
    tables_out = {"comparison.csv": result.comparison, "deciles.csv": result.deciles,
                  "pql_tiers.csv": result.tier_rates, "folds.csv": _frame(result.folds),
                  "importance.csv": result.importance.rename_axis("feature").rename("mean_abs_contribution")
                  .reset_index()}
    tables_out.update({name: table for name, table in (
        ("learned_definitions.csv", result.definitions), ("learned_overlap.csv", result.learned_overlap),
        ("revenue.csv", result.revenue)) if table is not None and len(table)})
    tables_out.update(report_tables(result, tables, settings))  # the funnel and capacity CSVs
    figures = plots.all_figures(result)
    # pql_tier is empty for many accounts: declared as double, since MLflow's "long" cannot be missing
    output_example = result.scorer.score(example).astype({"pql_tier": "float64"})
    run = tracking.log_training(result, config, tracking_config, settings.promotion, figures, tables_out,
                                example, output_example, artifacts, promote_now=False,
                                overrides=list(overrides))
    plots.close(figures)
    decision = decide(result, tables, run.version, tracking_config, settings.promotion, settings.capacity_per_week,
                      sweep)
    data_out = summary(result, run.run_id, run.model_uri, run.version, decision.promote)
    data_out["promotion"] = decision.to_dict()
    path = write_summary(data_out, out_dir / "summary.json")
    tracking.log_summary(run.run_id, path, tracking_config)
    tracking.log_summary(run.run_id, write_report(result, tables, settings, out_dir / "report.html",
                                                  tables_out["funnel.csv"], data_out), tracking_config)
    # the champion alias moves last: a run killed before this point never becomes the model serve loads
    tracking.promote(run, tracking_config, decision)
    return TrainJob(result, data_out, path, report(result, data_out))


def data_source(data: DataConfig) -> str:
    """Where the data came from, for people (tags, descriptions)."""
    if data.dir:
        return f"folder {Path(data.dir).resolve()}"
    if data.duckdb:
        return f"DuckDB {Path(data.duckdb).resolve()}"
    return "demo world"


def fingerprint(data_config: dict) -> str:
    """A short hash of the data source and its mapping: two models with different fingerprints did not
    learn from the same data (paths are made absolute; the demo world's size and seed count)."""
    cfg = dict(data_config)
    for key in ("dir", "duckdb"):
        if cfg.get(key):
            cfg[key] = str(Path(cfg[key]).resolve())
    if cfg.get("dir") or cfg.get("duckdb"):
        cfg.pop("demo", None)
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decide(result: TrainResult, tables, version: str, tracking_config: TrackingConfig,
           promotion: PromotionConfig, capacity: int, sweep: bool) -> Decision:
    """Whether the new version replaces the champion: both scored on the new model's backtest rows."""
    force = promotion.mode == "force"
    if promotion.mode == "never":
        return Decision(False, "promotion.mode=never")
    if sweep and not force:
        return Decision(False, "a --multirun sweep never moves the champion (promotion.mode=force does)")
    current = tracking.current_champion(tracking_config)
    if current is None:
        return Decision(True, "there is no champion yet")
    old_version, champion = current
    if str(old_version) == str(version):
        return Decision(True, "it is the champion already")
    why = incompatibility(champion.meta, result.scorer.meta)
    if why:
        return Decision(force, f"not compared with champion v{old_version}: {why}"
                               + ("; replaced anyway (promotion.mode=force)" if force else
                                  "; promotion.mode=force replaces it anyway"))
    train_end = (champion.meta.get("split") or {}).get("train", [None, None])[1]
    horizon = int(result.scorer.meta.get("horizon_days", 30))
    if not has_unseen_rows(result.test["as_of"], train_end, horizon):
        # the champion learned every row of this backtest: its stored model would be judged on rows it has
        # seen, so compare what both backtests predicted out of time on their common rows instead
        previous = tracking.backtest_predictions(tracking_config, old_version)
        if previous is not None:
            verdict = compare_backtests(result.test, previous, promotion.metric, capacity)
            reason = f"v{version} vs champion v{old_version}: {verdict.reason}"
            if force and not verdict.promote:
                reason += "; promoted anyway (promotion.mode=force)"
            return replace(verdict, promote=verdict.promote or force, reason=reason)
    rows = result.test[["account_id", "as_of"]]
    try:
        features = build_features(tables, sorted(rows["as_of"].unique()), champion.spec)
    except PipelineError as exc:
        return Decision(force, f"champion v{old_version}'s features cannot be built on this data ({exc})")
    features = rows.merge(features, on=["account_id", "as_of"], how="left", validate="one_to_one")
    scores = champion.score(features, with_reasons=False)["score"].to_numpy()
    verdict = compare(result.test, scores, promotion.metric, capacity, train_end,
                      horizon)
    reason = f"v{version} vs champion v{old_version}: {verdict.reason}"
    if force and not verdict.promote:
        reason += "; promoted anyway (promotion.mode=force)"
    return replace(verdict, promote=verdict.promote or force, reason=reason)


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)
