"""Runs: a training run (params = the flattened config, metrics per fold, plots, the backtest tables,
the spec, ``summary.json``, and its model, registered), the serve experiment's scoring, failed and
realized runs, abandoned runs, and a training run read back.

Runs carry their process (``pql.pid``, ``pql.host``): the next run marks runs whose process died while
RUNNING as FAILED.
"""
from __future__ import annotations

import logging
import math
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from features.data.sql import hide_passwords

from train.config import PromotionConfig, TrackingConfig
from train.tracking.registry import RunInfo, describe_version, register_model, settle
from train.tracking.store import TrackingError, connect, experiment

log = logging.getLogger("pql")
PID_TAG, HOST_TAG = "pql.pid", "pql.host"
STALE_AFTER_S = 2 * 24 * 3600  # a RUNNING run of another host (or without a pid) this old is abandoned


def _process_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_abandoned_runs(client, experiment_id: str, now_ms: int | None = None) -> list[str]:
    """Mark FAILED the RUNNING runs whose process is gone: on this host, their ``pql.pid`` is not
    alive; elsewhere (or without the tag), they started more than ``STALE_AFTER_S`` ago."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    host, failed = socket.gethostname(), []
    try:
        runs = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    except Exception as exc:  # housekeeping: never the reason a run fails
        log.warning("could not look for abandoned runs: %s", " ".join(str(exc).split())[:200])
        return failed
    for run in runs:
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        if tags.get(HOST_TAG) == host and pid.isdigit():
            dead = int(pid) != os.getpid() and not _alive(int(pid))
        else:
            dead = now_ms - int(run.info.start_time or now_ms) > STALE_AFTER_S * 1000
        if dead:
            client.set_terminated(run.info.run_id, "FAILED")
            client.set_tag(run.info.run_id, "pql.abandoned", "process ended while the run was RUNNING")
            log.warning("run %s was left RUNNING by a process that ended (killed?): marked FAILED",
                        run.info.run_id)
            failed.append(run.info.run_id)
    return failed


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.params.num_leaves": "31", ...} (MLflow params are flat strings; database
    passwords masked)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = hide_passwords(str(value))[:6000]
    return out


_NOT_IN_A_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. :/]")  # what MLflow refuses in a metric name


def metric_name(name: str) -> str:
    """A metric name MLflow takes: a user's column name (``psi_Employees (count, self-reported)``) with every
    character MLflow refuses replaced by ``_``.

    >>> metric_name("psi_Employees (count, self-reported)")
    'psi_Employees _count_ self-reported_'
    """
    return _NOT_IN_A_METRIC_NAME.sub("_", str(name))


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {metric_name(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def log_training(result, params: dict[str, Any], tracking: TrackingConfig, promotion: PromotionConfig,
                 figures: dict, tables: dict[str, pd.DataFrame], input_example: pd.DataFrame,
                 output_example: pd.DataFrame, artifacts: list[Path] = (), promote_now: bool = True,
                 overrides: list[str] = ()) -> RunInfo:
    """Log a training run and its model, register it (alias ``challenger``, content hash tag).

    ``promote_now=False`` leaves ``champion`` alone: call :func:`~train.tracking.registry.promote` once the
    run's artifacts (``summary.json``) are complete. ``RunInfo.champion`` then says whether the model beats
    the current champion now (what ``promote`` will do unless another run promotes first)."""
    mlflow = connect(tracking)
    found = experiment(mlflow, tracking.experiment, tracking.uri)
    client = mlflow.MlflowClient()
    fail_abandoned_runs(client, found.experiment_id)
    meta, name = result.scorer.meta, tracking.registered_model
    tags = _run_tags(result, meta, overrides)
    with mlflow.start_run(experiment_id=found.experiment_id, run_name=_run_name(result, meta),
                          tags={**_process_tags(), **tags}) as run, tempfile.TemporaryDirectory() as tmp:
        _log_backtest(mlflow, result, params, figures, tables, artifacts, Path(tmp))
        version, digest = register_model(mlflow, result, name, Path(tmp), input_example, output_example)
    describe_version(client, name, version.version, digest, tags, _description(result, meta))
    champion = settle(client, name, version.version, result.metrics, promotion, promote_now)
    return RunInfo(run.info.run_id, f"models:/{name}/{version.version}", str(version.version), champion,
                   found.experiment_id)


def _log_backtest(mlflow, result, params: dict[str, Any], figures: dict, tables: dict[str, pd.DataFrame],
                  artifacts: list[Path], tmp: Path) -> None:
    """What the active run records of the training: config, data, split, metrics, health, files, plots."""
    mlflow.log_params(flatten(params))
    _log_input(mlflow, result, result.scorer.meta)
    mlflow.log_params({f"split.{k}": f"{v[0]} .. {v[1]}" for k, v in result.plan.bounds().items()})
    mlflow.log_param("calibration.chosen", result.calibration["method"])
    mlflow.log_metrics(_finite({**result.metrics, **result.counts}))
    for fold in result.folds:  # one step per fold: MLflow charts the spread across folds
        # the fold number is the step, not a metric; flags (reported) are not figures
        mlflow.log_metrics(_finite({f"fold_{k}": v for k, v in fold.items() if k != "fold"
                                    and isinstance(v, (int, float)) and not isinstance(v, bool)}),
                           step=int(fold["fold"]))
    mlflow.log_dict(result.health, "health.json")
    for path in artifacts:
        mlflow.log_artifact(str(path), "backtest")
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}")
    for name, frame in tables.items():
        path = tmp / name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path), "backtest")
    mlflow.log_dict(result.spec.to_dict(), "feature_spec.json")


def _run_name(result, meta: dict) -> str:
    kind = result.scorer.model.kind
    return f"{kind}-{meta.get('horizon_days')}d-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}"


def _run_tags(result, meta: dict, overrides: list[str]) -> dict[str, str]:
    bounds = result.plan.bounds()
    return {"pql.model": result.scorer.model.kind, "pql.horizon_days": str(meta.get("horizon_days")),
            "pql.calibration": str(meta.get("calibration")), "pql.data": str(meta.get("data_source", ""))[:500],
            "pql.data_fingerprint": str(meta.get("data_fingerprint", "")),
            "pql.backtest": f"{bounds['test'][0]} .. {bounds['test'][1]}",
            "pql.overrides": hide_passwords(" ".join(overrides))[:5000] or "(none)",
            "pql.code_version": _code_version()}


def _description(result, meta: dict) -> str:
    m, bounds = result.metrics, result.plan.bounds()
    return (f"{result.scorer.model.kind} (calibration {meta.get('calibration')}), P(convert within "
            f"{meta.get('horizon_days')} days). Backtest {bounds['test'][0][:10]} .. {bounds['test'][1][:10]} "
            f"({len(result.folds)} folds): ROC AUC {m['roc_auc']:.3f}, PR AUC {m['pr_auc']:.3f}, precision at "
            f"capacity {m['precision_at_capacity']:.1%}. Data: {meta.get('data_source', '?')} "
            f"(fingerprint {meta.get('data_fingerprint', '?')}). Code {_code_version()}.")


def _code_version() -> str:
    try:
        return metadata.version("pql-pipeline")
    except metadata.PackageNotFoundError:
        return "unknown"


def _log_input(mlflow, result, meta: dict) -> None:
    """The training data as an MLflow dataset input (its name, source and a digest; the rows stay where they are)."""
    from mlflow.data import from_pandas

    sample = result.test[["account_id", "as_of", "label"]].head(1000)
    dataset = from_pandas(sample, source=str(meta.get("data_source", "demo world")),
                          name=f"snapshots-{meta.get('data_fingerprint', 'data')}", targets="label")
    mlflow.log_input(dataset, context="training")


def log_summary(run_id: str, path: Path, tracking: TrackingConfig) -> None:
    """Add a file (``summary.json``, the report) to a finished run's artifacts."""
    connect(tracking).MlflowClient().log_artifact(run_id, str(path))


def log_scoring_failure(tracking: TrackingConfig, params: dict[str, Any], error: BaseException) -> str | None:
    """Record a scoring run that failed as a FAILED run of the serve experiment, with the one-line reason
    (tags) and the traceback (``error.txt``). Never raises: None when the store cannot take it."""
    import traceback

    try:
        mlflow = connect(tracking)
        found = experiment(mlflow, tracking.serve_experiment, tracking.uri)
        client = mlflow.MlflowClient()
        reason = " ".join(str(error).split())[:5000] or type(error).__name__
        run = client.create_run(found.experiment_id, run_name=f"serve-{params.get('as_of', '')[:10]}-failed",
                                tags={**_process_tags(), "pql.error": reason, "pql.error_type": type(error).__name__,
                                      "pql.exit_code": str(getattr(error, "exit_code", 1))})
        for key, value in flatten(params).items():
            client.log_param(run.info.run_id, key, value)
        client.log_text(run.info.run_id, "".join(traceback.format_exception(error)), "error.txt")
        client.set_terminated(run.info.run_id, "FAILED")
        return run.info.run_id
    except Exception as exc:  # the original error is what the user must see
        log.warning("could not record the failed scoring run: %s", " ".join(str(exc).split())[:200])
        return None


def log_scoring(tracking: TrackingConfig, params: dict[str, Any], metrics: dict[str, float],
                tables: dict[str, pd.DataFrame]) -> str:
    """Record one scoring run (counts per tier, score distribution, drift) in the serve experiment."""
    return _log_serve_run(tracking, params, metrics, tables, f"serve-{str(params.get('as_of', ''))[:10]}",
                          "monitoring", {})


def _log_serve_run(tracking: TrackingConfig, params: dict[str, Any], metrics: dict[str, float],
                   tables: dict[str, pd.DataFrame], run_name: str, folder: str, tags: dict[str, str]) -> str:
    """One finished run of the serve experiment: params, metrics, and ``tables`` as CSVs under ``folder``."""
    mlflow = connect(tracking)
    found = experiment(mlflow, tracking.serve_experiment, tracking.uri)
    fail_abandoned_runs(mlflow.MlflowClient(), found.experiment_id)
    with mlflow.start_run(experiment_id=found.experiment_id, tags={**_process_tags(), **tags},
                          run_name=run_name) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(flatten(params))
        mlflow.log_metrics(_finite(metrics))
        for name, frame in tables.items():
            path = Path(tmp) / name
            frame.to_csv(path, index=False)
            mlflow.log_artifact(str(path), folder)
    return run.info.run_id


# -- reading runs back (notebooks, reports) ----------------------------------------------------


@dataclass
class TrainingRun:
    """A logged training run, read back: summary, backtest tables, metrics, params, plot files."""

    run_id: str
    summary: dict
    metrics: dict[str, float]
    params: dict[str, str]
    comparison: pd.DataFrame
    deciles: pd.DataFrame
    tiers: pd.DataFrame
    importance: pd.DataFrame
    plots: dict[str, Path]


def latest_training_run(tracking: TrackingConfig, run_id: str | None = None) -> TrainingRun:
    """The newest finished training run (or ``run_id``) with its artifacts downloaded."""
    import json

    mlflow = connect(tracking)
    client = mlflow.MlflowClient()
    if run_id is None:
        # left at its default, the experiment is one per data source (experiment_for): the newest of them all
        name, per_source = tracking.experiment, tracking.experiment == TrackingConfig.experiment
        found = [e.experiment_id for e in client.search_experiments(filter_string=f"name LIKE '{name}%'")
                 if e.name == name or (per_source and e.name.startswith(f"{name}-"))]
        runs = client.search_runs(found, "attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1) if found else []
        if not runs:
            raise TrackingError(f"no finished run in experiment '{tracking.experiment}' at {tracking.uri}: "
                                f"run `python -m train` first")
        run_id = runs[0].info.run_id
    run = client.get_run(run_id)
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="", tracking_uri=tracking.uri))
    read = lambda name: pd.read_csv(local / "backtest" / name)  # noqa: E731
    return TrainingRun(
        run_id=run_id,
        summary=json.loads((local / "summary.json").read_text()) if (local / "summary.json").exists() else {},
        metrics=dict(run.data.metrics), params=dict(run.data.params),
        comparison=read("comparison.csv"), deciles=read("deciles.csv"), tiers=read("pql_tiers.csv"),
        importance=read("importance.csv"),
        plots={p.name: p for p in sorted((local / "plots").glob("*.png"))},
    )


def log_realized(tracking: TrackingConfig, params: dict[str, Any], metrics: dict[str, float],
                 tables: dict[str, pd.DataFrame]) -> str:
    """Record how past scores turned out (``python -m serve.realized``) as a run of the serve experiment,
    named ``realized-<day>`` and tagged ``pql.kind=realized``: metrics, params, CSVs under ``realized/``."""
    return _log_serve_run(tracking, params, metrics, tables, f"realized-{time.strftime('%Y-%m-%d', time.gmtime())}",
                          "realized", {"pql.kind": "realized"})
