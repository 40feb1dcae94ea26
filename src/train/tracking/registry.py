"""The model registry: the logged pyfunc model registered with its content hash, the ``champion`` and
``challenger`` aliases, promotion, and the current champion read back.

Training registers each model with alias ``challenger`` and its content hash (tag ``pql.content_sha256``)
and -- last, once the run's artifacts are complete (:func:`promote`) -- moves ``champion`` to it when it
wins (:mod:`train.promotion` decides; the first model always does).
"""
from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from features.errors import PipelineError

from train import model_code
from train.bundle import bundle_digest
from train.config import CHAMPION_METRICS, PromotionConfig, TrackingConfig
from train.tracking.loading import load_model
from train.tracking.store import CHALLENGER, CHAMPION, HASH_TAG, connect

log = logging.getLogger("pql")
MODEL_CODE = str(model_code.MODEL_CODE)
# what the model's code (pyfunc_model.py and the modules it ships, train.model_code) imports to load and
# predict: scipy is scikit-learn's, pyarrow pandas' string and Parquet backend; duckdb is never imported there
_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "scipy", "pandas", "numpy", "pyarrow", "skops")


@dataclass(frozen=True)
class RunInfo:
    """A logged training run and its registered model version (``champion``: it beats the champion now)."""

    run_id: str
    model_uri: str
    version: str
    champion: bool
    experiment_id: str


def _requirements() -> list[str]:
    reqs = []
    for name in _REQUIREMENTS:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def register_model(mlflow, result, name: str, folder: Path, input_example: pd.DataFrame,
                   output_example: pd.DataFrame):
    """Log the run's model as a pyfunc (its bundle and the code it ships written under ``folder``) in the
    active run, tag the run with the bundle's content hash and register it as ``name``; (version, hash)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    bundle = result.scorer.save(folder / "bundle", code_file=MODEL_CODE)
    # the project modules the model code imports ship with it (code_paths), hashed into the manifest:
    # the model loads without this project installed, and the content hash covers that code too
    code_paths = model_code.stage(folder / "code")
    model_code.add_to_manifest(bundle, model_code.file_hashes(folder / "code"))
    digest = bundle_digest(bundle)
    mlflow.set_tag(HASH_TAG, digest)
    # inputs: every spec column by name, of MLflow's Any type -- predict casts (pyfunc_model.py's
    # docstring): MLflow's own enforcement refuses int64 counts as double and pandas categoricals
    inferred = infer_signature(input_example, output_example, params={"reasons": True})
    signature = ModelSignature(Schema([ColSpec(AnyType(), n) for n in result.spec.names]),
                               inferred.outputs, inferred.params)
    info = mlflow.pyfunc.log_model(
        name="model", python_model=MODEL_CODE, artifacts={"bundle": str(bundle)}, code_paths=code_paths,
        signature=signature, input_example=input_example, pip_requirements=_requirements())
    return mlflow.register_model(info.model_uri, name, tags={HASH_TAG: digest}), digest


def describe_version(client, name: str, version: str, digest: str, tags: dict[str, str], description: str) -> None:
    """Tag a registered version with its content hash and the run's tags, and give it its description."""
    client.set_model_version_tag(name, version, HASH_TAG, digest)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.update_model_version(name, version, description=description)
    describe_model(client, name, version, tags)


MODEL_DESCRIPTION = ("A PQL propensity model: the probability that an account converts within the horizon "
                     "(tag pql.horizon_days), trained by `python -m train` (pql-pipeline) with a rolling backtest "
                     "against the hand-written PQL rules. `python -m serve` scores with the version aliased "
                     "'champion'; 'challenger' is the newest that did not beat it. Each version's description "
                     "holds its backtest figures and data source.")


def describe_model(client, name: str, version: str, tags: dict[str, str]) -> None:
    """Give the registered model its description and the newest version's tags (kind, horizon, data), so the
    registry's model page says what the model is without opening a version."""
    client.update_registered_model(name, description=MODEL_DESCRIPTION)
    kept = {k: v for k, v in tags.items() if k in ("pql.model", "pql.horizon_days", "pql.data", "pql.code_version")}
    for key, value in {"pql.kind": "propensity", "pql.latest_version": str(version), **kept}.items():
        client.set_registered_model_tag(name, key, value)


def settle(client, name: str, version: str, metrics: dict, promotion: PromotionConfig, promote_now: bool) -> bool:
    """Whether the new version beats the champion on the champion metric; with ``promote_now`` it also
    becomes ``challenger`` and, when it wins, ``champion`` (else :func:`promote` does that later)."""
    if not promote_now:
        return _beats_champion(client, name, metrics, promotion)[0]
    client.set_registered_model_alias(name, CHALLENGER, version)
    return _promote(client, name, version, metrics, promotion)


def _metric_of_version(client, name: str, version: str, metric: str) -> float | None:
    run_id = client.get_model_version(name, version).run_id
    value = client.get_run(run_id).data.metrics.get(metric) if run_id else None
    return value


def _beats_champion(client, name: str, metrics: dict, promotion: PromotionConfig):
    """(better, current champion version, its metric) on the champion metric."""
    metric = promotion.metric
    try:
        current = client.get_model_version_by_alias(name, CHAMPION).version
    except Exception:  # no champion yet (MLflow raises its own "not found" exception)
        current = None
    new = metrics.get(metric)
    old = _metric_of_version(client, name, current, metric) if current else None
    better = old is None or new is None or (new > old if CHAMPION_METRICS[metric] else new < old)
    return better, current, old


def _promote(client, name: str, version: str, metrics: dict, promotion: PromotionConfig) -> bool:
    """Make ``version`` champion when it beats the current one on the champion metric (or there is none)."""
    metric = promotion.metric
    new = metrics.get(metric)
    better, current, old = _beats_champion(client, name, metrics, promotion)
    if str(current) == str(version):
        return True
    if better:
        client.set_registered_model_alias(name, CHAMPION, version)
        log.info("model version %s is the new champion (%s %.4f vs %s)", version, metric,
                 float("nan") if new is None else new, "none" if old is None else f"{old:.4f}")
    else:
        log.info("model version %s stays challenger: %s %.4f does not beat champion v%s (%.4f)", version, metric,
                 new, current, old)
    return better


def promote(run: RunInfo, tracking: TrackingConfig, decision) -> bool:
    """Apply a :class:`train.promotion.Decision` -- called last, once the run's artifacts are complete:
    a run without ``summary.json`` is never promoted. The winner becomes ``champion``; a model that did
    not win becomes ``challenger`` (the newest version that did not win)."""
    mlflow = connect(tracking)
    client = mlflow.MlflowClient()
    name = tracking.registered_model
    logged = {a.path for a in client.list_artifacts(run.run_id)}
    promote_it = bool(decision.promote)
    if "summary.json" not in logged:
        log.warning("model version %s is not promoted: its run %s has no summary.json", run.version, run.run_id)
        promote_it = False
    client.set_registered_model_alias(name, CHAMPION if promote_it else CHALLENGER, run.version)
    client.set_tag(run.run_id, "pql.promotion", decision.reason[:5000])
    client.set_model_version_tag(name, run.version, "pql.promotion", decision.reason[:5000])
    for key in ("challenger", "champion"):
        value = getattr(decision, key)
        if value is not None and math.isfinite(value):
            client.log_metric(run.run_id, f"promotion_{key}_{decision.metric}", value)
    if promote_it:
        log.info("model version %s is the new champion: %s", run.version, decision.reason)
    else:
        log.info("model version %s is the challenger (champion unchanged): %s", run.version, decision.reason)
    return promote_it


def current_champion(tracking: TrackingConfig):
    """(version, scorer) of the registered champion, loaded through the same checks as serve; None when
    there is none. A champion that cannot be loaded is reported and treated as absent."""
    mlflow = connect(tracking)
    client = mlflow.MlflowClient()
    name = tracking.registered_model
    try:
        version = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:  # no registered model or no champion alias yet
        return None
    try:
        model = load_model(f"models:/{name}/{version}", tracking)
    except PipelineError as exc:
        log.warning("the current champion cannot be loaded (%s): it is replaced", exc)
        return None
    return version, model.unwrap_python_model().scorer


def backtest_predictions(tracking: TrackingConfig, version: str) -> pd.DataFrame | None:
    """The out-of-time backtest predictions (``backtest/predictions.parquet``) of a registered version's
    training run; None when it has none."""
    mlflow = connect(tracking)
    client = mlflow.MlflowClient()
    try:
        run_id = client.get_model_version(tracking.registered_model, version).run_id
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="backtest/predictions.parquet",
                                                       dst_path=tmp)
            return pd.read_parquet(path)
    except Exception:  # an older run without the artifact: nothing to compare on
        return None
