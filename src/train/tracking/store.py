"""The tracking store: connecting to MLflow, creating a SQLite store whole, the lock that guards it,
the experiments runs are logged to, and the names (tags, aliases) this pipeline gives things there.

A new SQLite store is created under an inter-process lock (``<db>.lock``) in a temporary file that
is moved into place once fully migrated: a kill leaves no store or a usable one, never half of one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import urllib.request
from pathlib import Path

from features.errors import PipelineError
from features.io import check_output

from train.config import TrackingConfig

# MLflow 3's UI reads this experiment tag (ExperimentKind in its source): an experiment of kind
# "custom_model_development" is a model-training one, opened on its runs rather than the GenAI traces.
# MLflow 3.17's UI follows a browser-wide toggle instead (the URL's ?workflowType=, default "genai"), so the
# link a run prints carries UI_RUNS_QUERY; later versions switch the toggle from this tag themselves.
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
UI_RUNS_QUERY = "workflowType=machine_learning"
HASH_TAG = "pql.content_sha256"  # the bundle's content hash, recorded at registration and checked at load
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
CHAMPION, CHALLENGER = "champion", "challenger"  # the registry aliases: serve loads the champion by default


class TrackingError(PipelineError):
    """The tracking server or model registry cannot give what was asked (exit code 4)."""

    exit_code = 4


def mlflow_module():
    """The ``mlflow`` module, imported on first use with this pipeline's HTTP and progress settings."""
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
    check_store(uri)  # a read-only or foreign file fails here, before any work, not after the scores
    mlflow = mlflow_module()
    if sqlite_path(uri) is not None:
        ensure_sqlite_store(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def check_store(uri: str) -> None:
    """Refuse a local tracking store this run could not write, before any work: a ``sqlite:///`` file that
    is not an SQLite database, one that cannot be written (read-only file or folder), or its artifacts
    folder (``mlruns/`` beside it) that cannot be written (TrackingError, exit 4). A store that does not
    exist yet needs a writable folder to be created in (ConfigError naming ``tracking.uri``, exit 2).
    Servers are checked when connecting (:func:`connect`)."""
    db = sqlite_path(uri)
    if db is None:
        return
    if not db.is_file() or db.stat().st_size == 0:  # created whole by ensure_sqlite_store
        check_output(db, [], formats=None, key="tracking.uri")
        return
    _check_sqlite(db.resolve())
    artifacts = db.resolve().parent / "mlruns"
    if artifacts.exists():
        _check_folder(artifacts, db)


def _check_sqlite(db: Path) -> None:
    """An SQLite database this process can write: its header, then a write that is rolled back."""
    import sqlite3

    try:
        with open(db, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise TrackingError(f"tracking store {db} cannot be read ({exc.strerror}); check tracking.uri") from exc
    if header != SQLITE_HEADER:
        raise TrackingError(f"tracking store {db} is not an SQLite database; point tracking.uri at an MLflow "
                            f"store (sqlite:///mlflow.db is created when missing)")
    try:
        connection = sqlite3.connect(f"{db.as_uri()}?mode=rw", uri=True, timeout=60, isolation_level=None)
        try:  # a table created and rolled back: SQLite refuses it when the file or its folder is read-only
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("CREATE TABLE pql_write_check (x)")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise TrackingError(f"tracking store {db} cannot be written ({exc}); make it writable or point "
                            f"tracking.uri at another store") from exc


def _check_folder(folder: Path, db: Path) -> None:
    """A folder this process can create files in (one is created and removed)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".pql-write-check-"):
            pass
    except OSError as exc:
        raise TrackingError(f"the artifacts folder {folder} of tracking store {db} cannot be written "
                            f"({exc.strerror}); make it writable or point tracking.uri at another store") from exc


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
    db = sqlite_path(uri)
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


def experiment(mlflow, name: str, uri: str):
    """The experiment, created if needed; with a SQLite store its artifacts go to ``mlruns/`` beside
    the database file (MLflow's default is ``./mlruns`` in whatever folder the command runs in).
    Two commands creating it at once both get it (the loser of the race reads the winner's)."""
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = None
        db = sqlite_path(uri)
        if db is not None:
            location = (db.resolve().parent / "mlruns").as_uri()
        try:
            mlflow.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING})
        except MlflowException:
            if mlflow.get_experiment_by_name(name) is None:
                raise
    elif (found.tags or {}).get(EXPERIMENT_KIND) != MODEL_TRAINING:  # none yet, or a GenAI kind the UI guessed
        mlflow.MlflowClient().set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    return mlflow.set_experiment(name)


def experiment_for(config: TrackingConfig, source: str | None) -> TrackingConfig:
    """``config`` with one experiment per data source: when ``tracking.experiment`` is left at its default
    (``pql-train``), the runs on a named source (``source``, e.g. a folder's name) go to ``pql-train-<source>``;
    the demo world (None) and an experiment the config names stay as they are."""
    if not source or config.experiment != TrackingConfig.experiment:
        return config
    return dataclasses.replace(config, experiment=f"{config.experiment}-{source}")


def runs_page(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The MLflow UI's page of an experiment's runs (``mlflow ui`` serves at ``base`` by default), opened on
    the runs whatever the browser's GenAI/model-training toggle says."""
    return f"{base}/#/experiments/{experiment_id}/runs?{UI_RUNS_QUERY}"
