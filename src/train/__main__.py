"""python -m train -- snapshots, LightGBM, calibration, a backtest against the PQL rules, MLflow."""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from features.app import CONF_DIR, exits_cleanly, log, plain, run_dir
from features.config import DataConfig
from features.load import load_tables
from train import plots, tracking
from train.pipeline import run_training
from train.scorer import model_input
from train.settings import TrackingConfig, TrainSettings
from train.summary import report, summary, write_summary


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
@exits_cleanly
def main(cfg: DictConfig) -> None:
    config = plain(cfg)
    settings = TrainSettings.from_mapping(config)
    tracking_config = TrackingConfig(**config["tracking"])
    tables, load_report = load_tables(DataConfig.from_mapping(config["data"]))
    for line in load_report.lines():
        log.info(line)
    result = run_training(tables, settings)
    example = model_input(result.input_example, result.spec)
    run = tracking.log_training(
        result, config, tracking_config, settings.evaluation, plots.all_figures(result),
        {"comparison.csv": result.comparison, "deciles.csv": result.deciles, "pql_tiers.csv": result.tier_rates,
         "importance.csv": result.importance.rename_axis("feature").rename("mean_abs_contribution").reset_index()},
        example, result.scorer.score(example))
    data = summary(result, run.run_id, run.model_uri, run.version, run.champion)
    path = write_summary(data, run_dir() / "summary.json")
    tracking.log_summary(run.run_id, path, tracking_config)
    print(report(result, data))
    log.info("summary: %s", path)


if __name__ == "__main__":
    main()
