"""The one module that talks to MLflow: runs, metrics, artifacts, the pyfunc model, the registry.

Training logs a run (params = the flattened config, metrics, plots, the comparison CSV, the spec,
``summary.json``), logs the model as a pyfunc (models-from-code + plain-file bundle: no pickles,
nothing for skops to refuse), registers it with alias ``challenger`` and its content hash (tag
``pql.content_sha256``), and -- last, once the run's artifacts are complete (:func:`promote`) --
moves ``champion`` to it when it beats the current champion on the configured metric (the first
model always does). Runs carry their process (``pql.pid``, ``pql.host``): the next run marks runs
whose process died while RUNNING as FAILED.

Scoring loads a model by URI only after checking it is one this pipeline wrote (:func:`load_model`):
the python_function flavor with the models-from-code loader, no pickled model, and the bundle and
code file matching the content hash recorded at registration. Whoever can write to the registry and
its artifact store can still register a model: that is the trust boundary.

A new SQLite store is created under an inter-process lock (``<db>.lock``) in a temporary file that
is moved into place once fully migrated: a kill leaves no store or a usable one, never half of one.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import PipelineError

from train.config import CHAMPION_METRICS, PromotionConfig, TrackingConfig

log = logging.getLogger("pql")
MODEL_CODE = str(Path(__file__).with_name("pyfunc_model.py"))
CHAMPION, CHALLENGER = "champion", "challenger"
EXPERIMENT_KIND = "mlflow.experimentKind"
HASH_TAG, PID_TAG, HOST_TAG = "pql.content_sha256", "pql.pid", "pql.host"
STALE_AFTER_S = 2 * 24 * 3600  # a RUNNING run of another host (or without a pid) this old is abandoned
CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
# what the model's code (pyfunc_model.py and the modules it ships, train.model_code) imports to load and
# predict: scipy is scikit-learn's, pyarrow pandas' string and Parquet backend; duckdb is never imported there
_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "scipy", "pandas", "numpy", "pyarrow", "skops")


class TrackingError(PipelineError):
    """The tracking server or model registry cannot give what was asked (exit code 4)."""

    exit_code = 4


def _mlflow():
    # imported lazily: `import mlflow` costs ~3 s, and only commands that track need it
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # no download progress bars on stderr: an error must stay the one line there
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def connect(config: TrackingConfig):
    """Point MLflow at the tracking store; an unreachable server is a clear error, not a long retry.
    A SQLite store that does not exist yet is created whole (see :func:`ensure_sqlite_store`)."""
    uri = config.uri
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except OSError as exc:
            raise TrackingError(f"tracking server {uri} is unreachable ({exc}); check tracking.uri") from exc
    mlflow = _mlflow()
    if _sqlite_path(uri) is not None:
        ensure_sqlite_store(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float = 300.0):
    """An exclusive inter-process lock on ``path`` (``fcntl.flock``; released when the process dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrackingError(f"another job holds {path} for more than {timeout_s:.0f} s; "
                                        f"try again when it has finished") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_sqlite_store(uri: str) -> None:
    """Create a new SQLite tracking store atomically: under ``<db>.lock``, migrate a temporary file
    in the same folder to MLflow's full schema, then ``os.replace`` it into place. Concurrent
    commands wait for one another; a kill leaves either no store or a complete one."""
    db = _sqlite_path(uri)
    if db is None or (db.is_file() and db.stat().st_size > 0):
        return
    db = db.resolve()
    with _file_lock(db.with_name(db.name + ".lock")):
        if db.is_file() and db.stat().st_size > 0:
            return  # another process created it while this one waited
        for leftover in db.parent.glob(f".{db.name}.tmp-*"):  # a creator killed half-way (we hold the lock)
            leftover.unlink(missing_ok=True)
        tmp = db.with_name(f".{db.name}.tmp-{os.getpid()}")
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            store = SqlAlchemyStore(f"sqlite:///{tmp}", (db.parent / "mlruns").as_uri())
            store.engine.dispose()
            os.replace(tmp, db)
        except Exception as exc:
            raise TrackingError(f"cannot create the tracking store {db}: {' '.join(str(exc).split())[:300]}") from exc
        finally:
            tmp.unlink(missing_ok=True)


def _experiment(mlflow, name: str, uri: str):
    """The experiment, created if needed; with a SQLite store its artifacts go to ``mlruns/`` beside
    the database file (MLflow's default is ``./mlruns`` in whatever folder the command runs in).
    Two commands creating it at once both get it (the loser of the race reads the winner's)."""
    from mlflow.exceptions import MlflowException

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None
        db = _sqlite_path(uri)
        if db is not None:
            location = (db.resolve().parent / "mlruns").as_uri()
        try:
            # the UI opens an experiment of this kind on its runs (not on the GenAI traces page)
            mlflow.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: "custom_model_development"})
        except MlflowException:
            if mlflow.get_experiment_by_name(name) is None:
                raise
    elif EXPERIMENT_KIND not in (experiment.tags or {}):
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, "custom_model_development")
    return mlflow.set_experiment(name)


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


def log_training(result, params: dict[str, Any], tracking: TrackingConfig, promotion: PromotionConfig,
                 figures: dict, tables: dict[str, pd.DataFrame], input_example: pd.DataFrame,
                 output_example: pd.DataFrame, artifacts: list[Path] = (), promote_now: bool = True,
                 overrides: list[str] = ()) -> RunInfo:
    """Log a training run and its model, register it (alias ``challenger``, content hash tag).

    ``promote_now=False`` leaves ``champion`` alone: call :func:`promote` once the run's artifacts
    (``summary.json``) are complete. ``RunInfo.champion`` then says whether the model beats the current
    champion now (what :func:`promote` will do unless another run promotes first)."""
    mlflow = connect(tracking)
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    from train import model_code
    from train.scorer import bundle_digest

    experiment = _experiment(mlflow, tracking.experiment, tracking.uri)
    client = mlflow.MlflowClient()
    fail_abandoned_runs(client, experiment.experiment_id)
    meta = result.scorer.meta
    with mlflow.start_run(experiment_id=experiment.experiment_id, run_name=_run_name(result, meta),
                          tags={**_process_tags(), **_run_tags(result, meta, overrides)}) as run, \
            tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(flatten(params))
        _log_input(mlflow, result, meta)
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
        bundle = result.scorer.save(Path(tmp) / "bundle", code_file=MODEL_CODE)
        # the project modules the model code imports ship with it (code_paths), hashed into the manifest:
        # the model loads without this project installed, and the content hash covers that code too
        code_paths = model_code.stage(Path(tmp) / "code")
        model_code.add_to_manifest(bundle, model_code.file_hashes(Path(tmp) / "code"))
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
        version = mlflow.register_model(info.model_uri, tracking.registered_model, tags={HASH_TAG: digest})
    name = tracking.registered_model
    client.set_model_version_tag(name, version.version, HASH_TAG, digest)
    for key, value in _run_tags(result, meta, overrides).items():
        client.set_model_version_tag(name, version.version, key, value)
    client.update_model_version(name, version.version, description=_description(result, meta))
    if promote_now:
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    run_info = RunInfo(run.info.run_id, f"models:/{name}/{version.version}", str(version.version), False,
                       experiment.experiment_id)
    if promote_now:
        champion = _promote(client, name, version.version, result.metrics, promotion)
    else:
        champion = _beats_champion(client, name, result.metrics, promotion)[0]
    return RunInfo(run_info.run_id, run_info.model_uri, run_info.version, champion, run_info.experiment_id)


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


def _run_name(result, meta: dict) -> str:
    kind = result.scorer.model.kind
    return f"{kind}-{meta.get('horizon_days')}d-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}"


def _run_tags(result, meta: dict, overrides: list[str]) -> dict[str, str]:
    bounds = result.plan.bounds()
    return {"pql.model": result.scorer.model.kind, "pql.horizon_days": str(meta.get("horizon_days")),
            "pql.calibration": str(meta.get("calibration")), "pql.data": str(meta.get("data_source", ""))[:500],
            "pql.data_fingerprint": str(meta.get("data_fingerprint", "")),
            "pql.backtest": f"{bounds['test'][0]} .. {bounds['test'][1]}",
            "pql.overrides": " ".join(overrides)[:5000] or "(none)", "pql.code_version": _code_version()}


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


_PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".dill")


def _registered_version(client, uri: str):
    """(name, version, content hash tag) of a ``models:/name@alias`` or ``models:/name/version`` URI;
    None for other URIs (``runs:/``, paths)."""
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return None
    rest = uri.removeprefix("models:/")
    try:
        if "@" in rest:
            name, alias = rest.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, version = rest.split("/", 1)
            mv = client.get_model_version(name, version)
    except (MlflowException, ValueError) as exc:
        raise TrackingError(f"model {uri} is not in the registry: {' '.join(str(exc).split())[:200]}") from exc
    return mv.name, str(mv.version), (mv.tags or {}).get(HASH_TAG)


def _run_hash(client, uri: str) -> str | None:
    if not uri.startswith("runs:/"):
        return None
    run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    try:
        return client.get_run(run_id).data.tags.get(HASH_TAG)
    except Exception:
        return None


def verify_model_dir(local: str | Path, uri: str, digest: str | None = None) -> None:
    """Refuse a downloaded model this pipeline did not write, before any of its code or data is loaded:
    exactly the python_function flavor with MLflow's models-from-code loader and our code file, no
    pickled model anywhere, and the bundle and code file matching their manifest (and ``digest``, the
    content hash recorded at registration, when there is one), and the code it ships (``code_paths``)
    exactly the files and sha256 its manifest lists."""
    import json

    import yaml

    from train.model_code import MANIFEST_KEY as SHIPPED_KEY
    from train.model_code import verify_shipped_code
    from train.scorer import MANIFEST, BundleError, verify_bundle

    local = Path(local)

    def refuse(why: str):
        raise TrackingError(f"refusing to load model {uri}: {why}")

    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        refuse("it has no MLmodel file (not an MLflow model)")
    try:
        spec = yaml.safe_load(mlmodel.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        refuse(f"its MLmodel file does not parse ({type(exc).__name__})")
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    if not isinstance(flavors, dict) or set(flavors) != {"python_function"}:
        refuse(f"its flavors are {sorted(flavors) if isinstance(flavors, dict) else flavors}, "
               f"not this pipeline's python_function model")
    pyfunc = flavors["python_function"] or {}
    if "python_model" in pyfunc or pyfunc.get("loader_module") != CODE_LOADER:
        refuse(f"it is a pickled or foreign pyfunc (loader {pyfunc.get('loader_module')!r}), "
               f"not this pipeline's models-from-code model")
    code_name = Path(str(pyfunc.get("model_code_path") or "")).name
    if code_name != Path(MODEL_CODE).name:
        refuse(f"its model code is {code_name or 'missing'!r}, not {Path(MODEL_CODE).name}")
    shipped = pyfunc.get("code")
    if shipped not in (None, "code"):
        refuse(f"its code paths are in {shipped!r}, not this pipeline's 'code' folder")
    artifacts = pyfunc.get("artifacts") or {}
    if set(artifacts) != {"bundle"} or (artifacts["bundle"] or {}).get("path") != "artifacts/bundle":
        refuse("its artifacts are not this pipeline's scoring bundle")
    pickles = sorted(p.relative_to(local).as_posix() for p in local.rglob("*")
                     if p.suffix.lower() in _PICKLE_SUFFIXES)
    if pickles:
        refuse(f"it holds pickled objects: {pickles[:3]}")
    bundle = local / "artifacts" / "bundle"
    try:
        verify_bundle(bundle, local / code_name, digest)
    except BundleError as exc:  # name the model, not the temporary folder it was checked in
        refuse(str(exc).replace(f"model bundle {bundle}", "its bundle").replace(f"model code {local}/", "its code "))
    # the code it ships (code_paths, put first on sys.path at load): exactly the files the manifest --
    # covered by the registration hash, checked above -- lists with their sha256, nothing else
    manifest = json.loads((bundle / MANIFEST).read_text())
    if shipped:
        why = verify_shipped_code(local / shipped, manifest, code_name)
        if why:
            refuse(why)
    elif manifest.get(SHIPPED_KEY):
        refuse("the code its manifest lists is not shipped with it (no code paths)")


def load_model(uri: str, tracking: TrackingConfig):
    """The logged pyfunc model; ``.unwrap_python_model().scorer`` is the bundle its ``predict`` uses.

    The model is downloaded and checked (:func:`verify_model_dir`) before MLflow loads it -- a
    registered version must carry the content hash recorded at registration -- and loaded from that
    same checked copy. Anything else is a :class:`TrackingError` (exit 4), in one line."""
    mlflow = connect(tracking)
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    registered = _registered_version(client, uri)
    if registered is not None:
        name, version, digest = registered
        source = f"models:/{name}/{version}"  # the alias resolved once: what is checked is what is loaded
        if not digest:
            raise TrackingError(f"refusing to load model {uri}: version {version} of '{name}' was registered "
                                f"without a content hash (not by this pipeline); retrain with `python -m train`")
    else:
        source, digest = uri, _run_hash(client, uri)
    with tempfile.TemporaryDirectory(prefix="pql-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)
        except (MlflowException, OSError) as exc:
            raise TrackingError(f"cannot load model {uri}: {' '.join(str(exc).split())[:300]}") from exc
        verify_model_dir(local, uri, digest)
        try:
            return mlflow.pyfunc.load_model(local)
        except PipelineError:
            raise
        except Exception as exc:  # verified, yet not loadable: still one line, never a traceback
            raise TrackingError(f"cannot load model {uri}: {type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:300]}") from exc


def log_scoring_failure(tracking: TrackingConfig, params: dict[str, Any], error: BaseException) -> str | None:
    """Record a scoring run that failed as a FAILED run of the serve experiment, with the one-line reason
    (tags) and the traceback (``error.txt``). Never raises: None when the store cannot take it."""
    import traceback

    try:
        mlflow = connect(tracking)
        experiment = _experiment(mlflow, tracking.serve_experiment, tracking.uri)
        client = mlflow.MlflowClient()
        reason = " ".join(str(error).split())[:5000] or type(error).__name__
        run = client.create_run(experiment.experiment_id, run_name=f"serve-{params.get('as_of', '')[:10]}-failed",
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
    experiment = _experiment(mlflow, tracking.serve_experiment, tracking.uri)
    fail_abandoned_runs(mlflow.MlflowClient(), experiment.experiment_id)
    with mlflow.start_run(experiment_id=experiment.experiment_id, tags={**_process_tags(), **tags},
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


def log_realized(tracking: TrackingConfig, params: dict[str, Any], metrics: dict[str, float],
                 tables: dict[str, pd.DataFrame]) -> str:
    """Record how past scores turned out (``python -m serve.realized``) as a run of the serve experiment,
    named ``realized-<day>`` and tagged ``pql.kind=realized``: metrics, params, CSVs under ``realized/``."""
    return _log_serve_run(tracking, params, metrics, tables, f"realized-{time.strftime('%Y-%m-%d', time.gmtime())}",
                          "realized", {"pql.kind": "realized"})
