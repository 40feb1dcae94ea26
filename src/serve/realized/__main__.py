"""python -m serve.realized scores_dir=FOLDER -- how past scores turned out against the backtest's promise."""
from __future__ import annotations

from omegaconf import DictConfig

from app.command import command, log, plain, run_dir
from serve.realized import run_realized


@command("realized")
def main(cfg: DictConfig) -> None:
    """Read the kept scores and the conversions since, judge the matured days, write ``realized.csv`` and log a run."""
    out_dir = run_dir()
    table, run_id = run_realized(plain(cfg), out_dir)
    log.info("realized performance of %d model version(s) -> %s; MLflow run %s", table["model_version"].nunique(),
             out_dir / "realized.csv", run_id)


if __name__ == "__main__":
    main()
