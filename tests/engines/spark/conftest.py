"""One local[2] SparkSession for the whole test run (JVM start is the expensive part), small and quiet.

Every Spark test module is in the xdist group ``spark`` (``pytestmark``): under ``-n 2 --dist loadgroup``
only one worker starts a JVM."""
from __future__ import annotations

import pytest

pytest.importorskip("pyspark")

SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "false",  # tiny data: no re-planning between stages
}
BUCKETS = 3  # several buckets, so that per-bucket validation and ordering are exercised


@pytest.fixture(scope="session")
def spark():
    from engines.settings import EngineConfig
    from engines.spark.session import spark_session

    session = spark_session(EngineConfig(name="spark", master="local[2]", app_name="pql-tests", conf=SPARK_CONF))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark):
    from engines.settings import EngineConfig
    from engines.spark import SparkEngine

    return SparkEngine(EngineConfig(name="spark", partitions=BUCKETS, conf=SPARK_CONF))
