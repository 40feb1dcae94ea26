"""The training job as one call: config in, tracked run and ``summary.json`` out (``__main__`` and tests use it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.config import DataConfig
from features.load import load_tables

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


def run_job(config: dict[str, Any], out_dir: Path) -> TrainJob:
    """Load the data, train and backtest, log everything to MLflow, write ``out_dir/summary.json``."""
    settings = TrainSettings.from_mapping(config)
    tracking_config = TrackingConfig(**config["tracking"])
    tables, load_report = load_tables(DataConfig.from_mapping(config["data"]))
    for line in load_report.lines():
        log.info(line)
    result = run_training(tables, settings)
    example = model_input(result.input_example, result.spec)
    tables_out = {"comparison.csv": result.comparison, "deciles.csv": result.deciles,
                  "pql_tiers.csv": result.tier_rates,
                  "importance.csv": result.importance.rename_axis("feature").rename("mean_abs_contribution")
                  .reset_index()}
    figures = plots.all_figures(result)
    # pql_tier is empty for many accounts: declared as double, since MLflow's "long" cannot be missing
    output_example = result.scorer.score(example).astype({"pql_tier": "float64"})
    run = tracking.log_training(result, config, tracking_config, settings.evaluation, figures, tables_out,
                                example, output_example)
    plots.close(figures)
    data = summary(result, run.run_id, run.model_uri, run.version, run.champion)
    path = write_summary(data, Path(out_dir) / "summary.json")
    tracking.log_summary(run.run_id, path, tracking_config)
    return TrainJob(result, data, path, report(result, data))
