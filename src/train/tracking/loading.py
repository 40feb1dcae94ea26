"""Loading a model by URI -- only after checking it is one this pipeline wrote.

:func:`load_model` accepts exactly the python_function flavor with the models-from-code loader, no
pickled model, and the bundle and code file matching the content hash recorded at registration.
Whoever can write to the registry and its artifact store can still register a model: that is the
trust boundary.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from features.errors import PipelineError

from train.bundle import MANIFEST, BundleError, verify_bundle
from train.config import TrackingConfig
from train.model_code import MANIFEST_KEY as SHIPPED_KEY
from train.model_code import MODEL_CODE, verify_shipped_code
from train.tracking.store import CHAMPION, HASH_TAG, TrackingError, connect

CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".dill")


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


def _refuse(uri: str, why: str):
    raise TrackingError(f"refusing to load model {uri}: {why}")


def _pyfunc_flavor(local: Path, uri: str) -> dict:
    """The MLmodel's python_function flavor, refused unless it is exactly this pipeline's models-from-code
    model (no other flavor, no pickled python_model, our code file, our code folder, our bundle)."""
    import yaml

    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        _refuse(uri, "it has no MLmodel file (not an MLflow model)")
    try:
        spec = yaml.safe_load(mlmodel.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        _refuse(uri, f"its MLmodel file does not parse ({type(exc).__name__})")
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    if not isinstance(flavors, dict) or set(flavors) != {"python_function"}:
        _refuse(uri, f"its flavors are {sorted(flavors) if isinstance(flavors, dict) else flavors}, "
                     f"not this pipeline's python_function model")
    pyfunc = flavors["python_function"] or {}
    if "python_model" in pyfunc or pyfunc.get("loader_module") != CODE_LOADER:
        _refuse(uri, f"it is a pickled or foreign pyfunc (loader {pyfunc.get('loader_module')!r}), "
                     f"not this pipeline's models-from-code model")
    code_name = Path(str(pyfunc.get("model_code_path") or "")).name
    if code_name != MODEL_CODE.name:
        _refuse(uri, f"its model code is {code_name or 'missing'!r}, not {MODEL_CODE.name}")
    if pyfunc.get("code") not in (None, "code"):
        _refuse(uri, f"its code paths are in {pyfunc.get('code')!r}, not this pipeline's 'code' folder")
    artifacts = pyfunc.get("artifacts") or {}
    if set(artifacts) != {"bundle"} or (artifacts["bundle"] or {}).get("path") != "artifacts/bundle":
        _refuse(uri, "its artifacts are not this pipeline's scoring bundle")
    return pyfunc


def verify_model_dir(local: str | Path, uri: str, digest: str | None = None) -> None:
    """Refuse a downloaded model this pipeline did not write, before any of its code or data is loaded:
    exactly the python_function flavor with MLflow's models-from-code loader and our code file, no
    pickled model anywhere, and the bundle and code file matching their manifest (and ``digest``, the
    content hash recorded at registration, when there is one), and the code it ships (``code_paths``)
    exactly the files and sha256 its manifest lists."""
    local = Path(local)
    pyfunc = _pyfunc_flavor(local, uri)
    code_name, shipped = Path(str(pyfunc.get("model_code_path"))).name, pyfunc.get("code")
    pickles = sorted(p.relative_to(local).as_posix() for p in local.rglob("*")
                     if p.suffix.lower() in _PICKLE_SUFFIXES)
    if pickles:
        _refuse(uri, f"it holds pickled objects: {pickles[:3]}")
    bundle = local / "artifacts" / "bundle"
    try:
        verify_bundle(bundle, local / code_name, digest)
    except BundleError as exc:  # name the model, not the temporary folder it was checked in
        _refuse(uri, str(exc).replace(f"model bundle {bundle}", "its bundle")
                .replace(f"model code {local}/", "its code "))
    # the code it ships (code_paths, put first on sys.path at load): exactly the files the manifest --
    # covered by the registration hash, checked above -- lists with their sha256, nothing else
    manifest = json.loads((bundle / MANIFEST).read_text())
    if shipped:
        why = verify_shipped_code(local / shipped, manifest, code_name)
        if why:
            _refuse(uri, why)
    elif manifest.get(SHIPPED_KEY):
        _refuse(uri, "the code its manifest lists is not shipped with it (no code paths)")


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
