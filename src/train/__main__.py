"""python -m train -- snapshots, LightGBM, calibration, a backtest against the PQL rules, MLflow.

The command's table of contents: :func:`run_job` loads the data, trains (:func:`train.pipeline.run_training`),
writes and logs what the run produced, decides the promotion and moves the champion last.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from app.command import command, log, plain, run_dir
from app.paths import CONF_DIR


@dataclass(frozen=True)
class TrainJob:
    """A finished training job: its result, ``summary.json`` (data and path), the text printed at the end."""

    result: Any
    summary: dict
    summary_path: Path
    report: str


def run_job(config: dict[str, Any], out_dir: Path, conf_dir: str | Path | None = None,
            overrides: list[str] = (), sweep: bool = False) -> TrainJob:
    """Load the data, backtest and train, log everything to MLflow, write ``out_dir/summary.json``,
    ``out_dir/predictions.parquet`` (the backtest's predictions) and ``out_dir/report.html``, then decide the
    promotion. ``sweep``: a job of a ``--multirun`` sweep (it never moves the champion unless forced)."""
    # LightGBM, MLflow: loaded once the config has been checked
    from engines.base import engine_for
    from report.content import report_tables
    from report.html import write_report
    from train import artifacts, plots, tracking
    from train.config import TrackingConfig
    from train.origin import origin_of, source_name
    from train.pipeline import run_training
    from train.promotion import decide
    from train.settings import settings_for
    from train.summary import closing, report, summary, write_summary

    settings, data, notes = settings_for(config, conf_dir or CONF_DIR)
    tracking_config = tracking.experiment_for(TrackingConfig(**config["tracking"]), source_name(data))
    tables, load_report = engine_for(config.get("engine")).load_tables(data)  # engine=local or spark
    for line in load_report.lines() + notes:
        log.info(line)
    result = run_training(tables, settings, origin_of(data, config["data"], notes))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = artifacts.write_backtest(result, out_dir)
    tables_out = {**artifacts.backtest_tables(result), **report_tables(result, tables, settings)}
    figures = plots.all_figures(result)
    run = tracking.log_training(result, config, tracking_config, settings.promotion, figures, tables_out,
                                *artifacts.examples(result), files, promote_now=False, overrides=list(overrides))
    plots.close(figures)
    decision = decide(result, tables, run.version, tracking_config, settings.promotion, settings.calls_per_snapshot,
                      sweep)
    data_out = {**summary(result, run.run_id, run.model_uri, run.version, decision.promote),
                "promotion": decision.to_dict()}
    path = write_summary(data_out, out_dir / "summary.json")
    tracking.log_summary(run.run_id, path, tracking_config)
    html = write_report(result, tables, settings, out_dir / "report.html", tables_out["funnel.csv"], data_out)
    tracking.log_summary(run.run_id, html, tracking_config)
    # the champion alias moves last: a run killed before this point never becomes the model serve loads
    tracking.promote(run, tracking_config, decision)
    end = closing(html, path, tracking_config.experiment, tracking.runs_page(run.experiment_id), tracking_config.uri)
    return TrainJob(result, data_out, path, report(result, data_out) + "\n\n" + end)


@command("train")
def main(cfg: DictConfig) -> None:
    """Train, track and report on the composed config; print the run's report."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    job = run_job(plain(cfg), run_dir(), overrides=list(hydra.overrides.task), sweep=hydra.mode == RunMode.MULTIRUN)
    print(job.report)  # it ends with where report.html, summary.json and the MLflow runs are


if __name__ == "__main__":
    main()
