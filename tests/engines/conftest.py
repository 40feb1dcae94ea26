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


@pytest.hookimpl(trylast=True)  # after pytest-xdist has named the groups
def pytest_collection_modifyitems(config, items):
    """Make ``--dist loadgroup`` group again under pytest 9: xdist 3.8 appends ``@group`` to ``item._nodeid``,
    which pytest 9 no longer reads (the node id lives in ``item._id``), so every test ran on any worker and
    the Spark tests started a JVM on both. This sets the id xdist meant. (It belongs in tests/conftest.py:
    it fixes the module groups made there too.)"""
    from _pytest.nodeid import coerce_node_id

    for item in items:
        wanted = getattr(item, "_nodeid", None)
        if isinstance(wanted, str) and "@" in wanted and item.nodeid != wanted:
            item._id = coerce_node_id(wanted)


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
