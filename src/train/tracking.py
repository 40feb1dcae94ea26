"""The one module that talks to MLflow: runs, metrics, artifacts, the pyfunc model, the registry.

Training logs a run (params = the flattened config, metrics, plots, the comparison CSV, the spec,
``summary.json``), logs the model as a pyfunc (models-from-code + plain-file bundle: no pickles,
nothing for skops to refuse), registers it with alias ``challenger`` and moves ``champion`` to it
only when it beats the current champion on the configured metric (the first model always does).
Scoring loads a model by URI and records each scoring run in its own experiment.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import PipelineError

from .settings import EvaluationConfig, TrackingConfig

log = logging.getLogger("pql")
MODEL_CODE = str(Path(__file__).with_name("pyfunc_model.py"))
CHAMPION, CHALLENGER = "champion", "challenger"
_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "duckdb", "skops", "mlflow")


class TrackingError(PipelineError):
    """The tracking server or model registry cannot give what was asked (exit code 4)."""

    exit_code = 4


def _mlflow():
    # imported lazily: `import mlflow` costs ~3 s, and only commands that track need it
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    import mlflow

    return mlflow


def connect(config: TrackingConfig):
    """Point MLflow at the tracking store; an unreachable server is a clear error, not a long retry."""
    uri = config.uri
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except OSError as exc:
            raise TrackingError(f"tracking server {uri} is unreachable ({exc}); check tracking.uri") from exc
    mlflow = _mlflow()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def _experiment(mlflow, name: str, uri: str):
    """The experiment, created if needed; with a SQLite store its artifacts go to ``mlruns/`` beside
    the database file (MLflow's default is ``./mlruns`` in whatever folder the command runs in)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    return mlflow.set_experiment(name)


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.params.num_leaves": "31", ...} (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _requirements() -> list[str]:
    reqs = []
    for name in _REQUIREMENTS:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    model_uri: str
    version: str
    champion: bool
    experiment_id: str


def _metric_of_version(client, name: str, version: str, metric: str) -> float | None:
    run_id = client.get_model_version(name, version).run_id
    value = client.get_run(run_id).data.metrics.get(metric) if run_id else None
    return value


def log_training(result, params: dict[str, Any], tracking: TrackingConfig, evaluation: EvaluationConfig,
                 figures: dict, tables: dict[str, pd.DataFrame], input_example: pd.DataFrame,
                 output_example: pd.DataFrame, artifacts: list[Path] = ()) -> RunInfo:
    """Log a training run and its model, register it and set the aliases."""
    mlflow = connect(tracking)
    from mlflow.models import infer_signature

    experiment = _experiment(mlflow, tracking.experiment, tracking.uri)
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(flatten(params))
        mlflow.log_params({f"split.{k}": f"{v[0]} .. {v[1]}" for k, v in result.plan.bounds().items()})
        mlflow.log_param("calibration.chosen", result.calibration["method"])
        mlflow.log_metrics(_finite({**result.metrics, **result.counts}))
        for fold in result.folds:  # one step per fold: MLflow charts the spread across folds
            mlflow.log_metrics(_finite({f"fold_{k}": v for k, v in fold.items() if isinstance(v, (int, float))}),
                               step=int(fold["fold"]))
        mlflow.log_dict(result.health, "health.json")
        for path in artifacts:
            mlflow.log_artifact(str(path), "backtest")
        for name, fig in figures.items():
            mlflow.log_figure(fig, f"plots/{name}")
        for name, frame in tables.items():
            path = Path(tmp) / name
            frame.to_csv(path, index=False)
            mlflow.log_artifact(str(path), "backtest")
        mlflow.log_dict(result.spec.to_dict(), "feature_spec.json")
        bundle = result.scorer.save(Path(tmp) / "bundle")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=MODEL_CODE, artifacts={"bundle": str(bundle)},
            signature=infer_signature(input_example, output_example, params={"reasons": True}),
            input_example=input_example, pip_requirements=_requirements())
        version = mlflow.register_model(info.model_uri, tracking.registered_model)
    client = mlflow.MlflowClient()
    name = tracking.registered_model
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    champion = _promote(client, name, version.version, result.metrics, evaluation)
    return RunInfo(run.info.run_id, f"models:/{name}/{version.version}", str(version.version), champion,
                   experiment.experiment_id)


def _promote(client, name: str, version: str, metrics: dict, evaluation: EvaluationConfig) -> bool:
    """Make ``version`` champion when it beats the current one on the champion metric (or there is none)."""
    metric = evaluation.champion_metric
    try:
        current = client.get_model_version_by_alias(name, CHAMPION).version
    except Exception:  # no champion yet (MLflow raises its own "not found" exception)
        current = None
    new = metrics.get(metric)
    old = _metric_of_version(client, name, current, metric) if current else None
    better = old is None or new is None or (new > old if evaluation.champion_higher_is_better else new < old)
    if better:
        client.set_registered_model_alias(name, CHAMPION, version)
        log.info("model version %s is the new champion (%s %.4f vs %s)", version, metric, new or float("nan"),
                 "none" if old is None else f"{old:.4f}")
    else:
        log.info("model version %s stays challenger: %s %.4f does not beat champion v%s (%.4f)", version, metric,
                 new, current, old)
    return better


def log_summary(run_id: str, path: Path, tracking: TrackingConfig) -> None:
    connect(tracking).MlflowClient().log_artifact(run_id, str(path))


# -- scoring side ------------------------------------------------------------------------------


def resolve_model(uri: str | None, tracking: TrackingConfig) -> tuple[str, str]:
    """(model URI, version label): default the registered model's champion; clear errors when absent."""
    mlflow = connect(tracking)
    from mlflow.exceptions import MlflowException

    name = tracking.registered_model
    uri = uri or f"models:/{name}@{CHAMPION}"
    client = mlflow.MlflowClient()
    if uri.startswith("models:/") and "@" in uri:
        model, alias = uri.removeprefix("models:/").split("@", 1)
        try:
            return uri, str(client.get_model_version_by_alias(model, alias).version)
        except MlflowException as exc:
            raise TrackingError(f"no model registered as '{model}' with alias '{alias}' in {tracking.uri}: "
                                f"run `python -m train` first (or pass model_uri=)") from exc
    if uri.startswith("models:/"):
        model, version = uri.removeprefix("models:/").split("/", 1)
        try:
            return uri, str(client.get_model_version(model, version).version)
        except MlflowException as exc:
            raise TrackingError(f"model version {model}/{version} does not exist in {tracking.uri}") from exc
    return uri, uri


def load_model(uri: str, tracking: TrackingConfig):
    """The logged pyfunc model; ``.unwrap_python_model().scorer`` is the bundle its ``predict`` uses."""
    mlflow = connect(tracking)
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        raise TrackingError(f"cannot load model {uri}: {exc}") from exc


def log_scoring(tracking: TrackingConfig, params: dict[str, Any], metrics: dict[str, float],
                tables: dict[str, pd.DataFrame]) -> str:
    """Record one scoring run (counts per tier, score distribution, drift) in the serve experiment."""
    mlflow = connect(tracking)
    experiment = _experiment(mlflow, tracking.serve_experiment, tracking.uri)
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(flatten(params))
        mlflow.log_metrics(_finite(metrics))
        for name, frame in tables.items():
            path = Path(tmp) / name
            frame.to_csv(path, index=False)
            mlflow.log_artifact(str(path), "monitoring")
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
        experiment = client.get_experiment_by_name(tracking.experiment)
        runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1) if experiment else []
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
