"""python -m train -- snapshots, LightGBM, calibration, a backtest against the PQL rules, MLflow."""
from __future__ import annotations

from omegaconf import DictConfig

from app.command import command, log, plain, run_dir


@command("train")
def main(cfg: DictConfig) -> None:
    from train.job import run_job  # LightGBM, MLflow: loaded once the config has been checked

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    job = run_job(plain(cfg), run_dir(), overrides=list(hydra.overrides.task), sweep=hydra.mode == RunMode.MULTIRUN)
    print(job.report)
    log.info("summary: %s", job.summary_path)


if __name__ == "__main__":
    main()
