"""The training job as one call: config in, tracked run and ``summary.json`` out (``__main__`` and tests use it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from features.config import DataConfig
from features.load import load_tables
from features.rulesets import resolve_rules

from . import plots, tracking
from .pipeline import TrainResult, run_training
from .scorer import model_input
from .settings import TrackingConfig, TrainSettings
from .summary import report, summary, write_summary

log = logging.getLogger("pql")


@dataclass
class TrainJob:
    result: TrainResult
    summary: dict
    summary_path: Path
    report: str


def settings_for(config: dict[str, Any], conf_dir: str | Path) -> tuple[TrainSettings, DataConfig, list[str]]:
    """Typed settings with what the data source brings filled in (the demo world's key events, plan
    limit and rules; none on your data), checked before any data is read; plus notes to print."""
    data = DataConfig.from_mapping(config["data"])
    settings = TrainSettings.from_mapping(config)
    rules = resolve_rules(config.get("rules"), data.on_demo, conf_dir)
    chosen = config.get("rules") or {}
    auto = data.on_demo and chosen.get("definitions") is None and not chosen.get("file")
    settings = replace(settings, rules=rules.definitions, features=settings.features.for_source(data),
                       rules_fit_the_source=auto)
    return settings, data, [rules.note] if rules.note else []


def run_job(config: dict[str, Any], out_dir: Path, conf_dir: str | Path | None = None) -> TrainJob:
    """Load the data, backtest and train, log everything to MLflow, write ``out_dir/summary.json`` and
    ``out_dir/predictions.parquet`` (the backtest's predictions)."""
    from features.app import CONF_DIR

    settings, data, notes = settings_for(config, conf_dir or CONF_DIR)
    tracking_config = TrackingConfig(**config["tracking"])
    tables, load_report = load_tables(data)
    for line in load_report.lines() + notes:
        log.info(line)
    result = run_training(tables, settings)
    result.notes.extend(notes)
    example = model_input(result.input_example, result.spec)
    out_dir = Path(out_dir)
    predictions = out_dir / "predictions.parquet"
    result.test.to_parquet(predictions, index=False)
    tables_out = {"comparison.csv": result.comparison, "deciles.csv": result.deciles,
                  "pql_tiers.csv": result.tier_rates, "folds.csv": _frame(result.folds),
                  "importance.csv": result.importance.rename_axis("feature").rename("mean_abs_contribution")
                  .reset_index()}
    figures = plots.all_figures(result)
    # pql_tier is empty for many accounts: declared as double, since MLflow's "long" cannot be missing
    output_example = result.scorer.score(example).astype({"pql_tier": "float64"})
    run = tracking.log_training(result, config, tracking_config, settings.evaluation, figures, tables_out,
                                example, output_example, [predictions], promote_now=False)
    plots.close(figures)
    data_out = summary(result, run.run_id, run.model_uri, run.version, run.champion)
    path = write_summary(data_out, out_dir / "summary.json")
    tracking.log_summary(run.run_id, path, tracking_config)
    # the champion alias moves last: a run killed before this point never becomes the model serve loads
    tracking.promote(run, tracking_config, settings.evaluation)
    return TrainJob(result, data_out, path, report(result, data_out))


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)
