"""The files a training run writes beside its summary and logs with its MLflow run: the backtest's
predictions, the learned rules file, the backtest tables (CSV), and the model's input and output examples."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.io import write_file, write_text
from train.result import TrainResult
from train.scorer import model_input


def write_backtest(result: TrainResult, out_dir: Path) -> list[Path]:
    """Write ``predictions.parquet`` (the backtest's predictions) and, when the run learned definitions,
    ``learned_rules.yaml`` (a rules file: ``python -m train rules.file=...``) to ``out_dir``; their paths."""
    written = [write_file(result.test, out_dir / "predictions.parquet")]  # atomic: no cut-off file on a full disk
    if result.learned_rules_yaml:
        written.append(write_text(result.learned_rules_yaml, out_dir / "learned_rules.yaml"))
    return written


def backtest_tables(result: TrainResult) -> dict[str, pd.DataFrame]:
    """The backtest's tables by CSV file name (the learned ones and revenue only when the run has them)."""
    tables = {"comparison.csv": result.comparison, "deciles.csv": result.deciles,
              "pql_tiers.csv": result.tier_rates, "folds.csv": pd.DataFrame(result.folds),
              "importance.csv": result.importance.rename_axis("feature").rename("mean_abs_contribution")
              .reset_index()}
    tables.update({name: table for name, table in (
        ("learned_definitions.csv", result.definitions), ("learned_overlap.csv", result.learned_overlap),
        ("revenue.csv", result.revenue)) if table is not None and len(table)})
    return tables


def examples(result: TrainResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The logged model's input example (a few backtest rows, as the model reads them) and its output."""
    example = model_input(result.input_example, result.spec)
    # pql_tier is empty for many accounts: declared as double, since MLflow's "long" cannot be missing
    return example, result.scorer.score(example).astype({"pql_tier": "float64"})
