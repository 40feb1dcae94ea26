"""A Spark command prints none of PySpark's "does not yet fully support pandas >= 3.0.0" warnings (the engine
hands no raw row to pandas; PySpark's own checks still warn, and are silenced: engines.spark.session)."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from engines.spark.session import PANDAS_WARNING, quiet_pandas_warning

SRC = Path(__file__).resolve().parents[3] / "src"


def test_only_that_warning_is_silenced() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_pandas_warning()
        warnings.warn(PANDAS_WARNING + ". Some features may not work correctly.", FutureWarning)
        warnings.warn("another future", FutureWarning)
    assert [str(w.message) for w in seen] == ["another future"]


@pytest.mark.slow  # starts Spark (a JVM) in a fresh process
@pytest.mark.xdist_group("spark")
def test_a_spark_command_prints_no_pandas_warning(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTHONWARNINGS", None)
    run = subprocess.run(
        [sys.executable, "-m", "features", "engine=spark", "engine.partitions=2", "engine.master='local[2]'",
         "data.demo.accounts=80", "data.demo.days=60", "data.demo.start=2024-01-01", "as_of=2024-02-26",
         "progress=false", f"output={tmp_path / 'f.parquet'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "f.parquet").exists()
    assert "does not yet fully support pandas" not in run.stdout + run.stderr


@pytest.mark.slow  # the shared local[2] session
@pytest.mark.xdist_group("spark")
def test_workers_talk_to_the_jvm_over_a_unix_socket(spark) -> None:
    from engines.spark.session import DEFAULT_CONF

    assert DEFAULT_CONF["spark.python.unix.domain.socket.enabled"] == "true"  # engine.conf may set it false
    assert spark.sparkContext.getConf().get("spark.python.unix.domain.socket.enabled") == "true"
    assert sorted(spark.sparkContext.parallelize(range(4), 4).map(lambda x: x * x).collect()) == [0, 1, 4, 9]


@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_the_python_workers_start_with_the_session(spark) -> None:
    from engines.spark.session import start_workers

    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    start_workers(spark)  # what a new session runs: one job of an empty task per core
    (job,) = set(tracker.getJobIdsForGroup()) - before
    assert tracker.getJobInfo(job).status == "SUCCEEDED"
    stage = tracker.getStageInfo(tracker.getJobInfo(job).stageIds[0])
    assert stage.numTasks == spark.sparkContext.defaultParallelism and stage.numFailedTasks == 0


def test_a_local_session_on_parquet_files_compiles_with_the_quick_jit_only() -> None:
    from engines.settings import EngineConfig
    from engines.spark.session import QUICK_JIT, local_conf

    assert local_conf(EngineConfig(name="spark", master="local[2]")) == QUICK_JIT
    assert local_conf(EngineConfig(name="spark", master="spark://host:7077")) == {}  # a cluster: its own settings
    catalog = {t: f"db.{t}" for t in ("accounts", "events", "conversions")}
    assert local_conf(EngineConfig(name="spark", master="local[2]", tables=catalog)) == {}  # the JVM reads the rows
