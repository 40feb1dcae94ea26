"""python -m train -- snapshots, LightGBM, calibration, a backtest against the PQL rules, MLflow."""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from features.app import CONF_DIR, exits_cleanly, log, plain, run_dir
from train.job import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
@exits_cleanly
def main(cfg: DictConfig) -> None:
    job = run_job(plain(cfg), run_dir())
    print(job.report)
    log.info("summary: %s", job.summary_path)


if __name__ == "__main__":
    main()
