"""The SparkSession of a run, from the ``engine`` config (one per process; tests share one)."""
from __future__ import annotations

import os
import re
import sys
import warnings
from typing import Any

from features.errors import ConfigError

from engines.settings import EngineConfig

# What the engine relies on: naive timestamps are UTC on both sides of Arrow, and Arrow moves the frames.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",  # a scoring day replaces only its own partition
}
DEFAULT_CONF = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    # workers fork from a daemon that has imported the kernel's modules (pandas, DuckDB, features) once
    "spark.python.daemon.module": "engines.spark.daemon",
    # the JVM talks to its Python workers over a Unix socket, not TCP on the loopback: over TCP each task's worker
    # waited ~40 ms for its input (measured; the pattern of a small write held back by TCP until an acknowledgement)
    "spark.python.unix.domain.socket.enabled": "true",
}


# PySpark 4 warns on every import path that may convert to pandas ("does not yet fully support pandas >= 3.0.0",
# pyspark/sql/pandas/utils.py), once per call site and worker. The engine hands no raw row to pandas (Arrow end
# to end: mapInArrow, applyInArrow, toArrow, createDataFrame of Arrow tables); only PySpark's own checks still
# warn (pandas_udf, which mapInArrow goes through, and a scores frame written with createDataFrame), and the
# parity tests hold those paths to the local engine's results. So the warning is silenced, that one only.
PANDAS_WARNING = "PySpark does not yet fully support pandas >= 3.0.0"


def quiet_pandas_warning() -> None:
    """Ignore PySpark's pandas-3 FutureWarning in this process (and the worker processes it forks)."""
    warnings.filterwarnings("ignore", message=re.escape(PANDAS_WARNING), category=FutureWarning)


def spark_session(settings: EngineConfig) -> Any:
    """The active session when there is one (spark-submit, a notebook, the tests), else a new one from
    ``engine.master``, ``engine.app_name`` and ``engine.conf``; the required settings are set either way."""
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError as exc:
        raise ConfigError("engine=spark needs pyspark: pip install -e '.[spark]' (and Java 17)") from exc
    quiet_pandas_warning()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter (this venv)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName(settings.app_name)
        if settings.master:
            builder = builder.master(settings.master)
        for key, value in {**DEFAULT_CONF, **local_conf(settings),
                           **{str(k): str(v) for k, v in (settings.conf or {}).items()}, **REQUIRED_CONF}.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - no Java, a bad master URL: one line, exit 2
            raise ConfigError(f"engine=spark: Spark did not start with master '{settings.master}' "
                              f"({' '.join(str(exc).split())[:200]}); Java 17 must be installed (java -version)") from exc
        session.sparkContext.setLogLevel("ERROR")
        start_workers(session)
    for key, value in REQUIRED_CONF.items():
        session.conf.set(key, value)
    return session


# A JVM on this machine that reads no rows (Parquet files are read by the Python workers) only schedules tasks:
# its optimising (C2) compiler cost 3.6-4.6 CPU seconds per 20 M-event run, compiling while the stages ran, where
# the quick (C1) compiler alone took 1.6-1.8; with it `local[2]` took 8.4-8.8 s against 9.4-9.6 s (runs taking
# turns, docs/spark.md). Catalog tables (engine.tables) are read by the JVM itself, where C2 pays: not there.
QUICK_JIT = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


def local_conf(settings: EngineConfig) -> dict[str, str]:
    """The settings of a session on this machine (a ``local`` master) that reads Parquet files: the JVM's quick
    compiler only (:data:`QUICK_JIT`); none for a cluster or catalog tables (``engine.conf`` overrides either)."""
    local = (settings.master or "").startswith("local")
    return dict(QUICK_JIT) if local and not settings.tables else {}


def start_workers(session: Any) -> None:
    """Start the session's Python workers with it (a job of one empty task per core): their daemon's start --
    a Python process importing the kernel's modules, the JVM loading its Python runner -- is a fixed cost of
    each session, like the JVM's own start, ~2 s here, which otherwise lands in the first stage's time."""
    context = session.sparkContext
    n = max(1, int(context.defaultParallelism))
    context.parallelize(range(n), n).foreach(_nothing)


def _nothing(_: object) -> None:
    """An empty task (a module-level function: it pickles by reference, the worker imports it)."""
