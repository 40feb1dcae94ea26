"""Alerts with engine=spark (serve.lake): the previous run read from the newest earlier as_of_date partition, the
alerts written as a sibling dataset or catalog table, over three days, a rerun and a gap."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from tests.serve.conftest import serve_day

# slow: starts Spark (a JVM); the "spark" group keeps every Spark test on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark"),
              pytest.mark.filterwarnings("ignore:PySpark does not yet")]
pytest.importorskip("pyspark")

CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.ui.enabled": "false",
        "spark.driver.memory": "1g", "spark.sql.adaptive.enabled": "false"}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """The test run's session (a warehouse in a temporary folder when this module starts it)."""
    from engines.settings import EngineConfig
    from engines.spark.session import spark_session

    conf = {**CONF, "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))}
    return spark_session(EngineConfig(name="spark", master="local[2]", app_name="pql-tests", conf=conf))


def _run(history, day: str, score: float) -> pd.DataFrame:
    return serve_day(history, day, score)


@pytest.mark.parametrize("kind", ["dataset", "catalog"])
def test_three_days_a_rerun_and_a_gap_in_the_lake(spark, tmp_path, kind):
    from serve.lake import LakeHistory

    table = None
    if kind == "catalog":  # a database of its own, in tmp_path: the session may be another test's, warehouse and all
        spark.sql(f"CREATE DATABASE IF NOT EXISTS pql_lake_test LOCATION '{tmp_path / 'db'}'")
        table = "pql_lake_test.pql_scores"
    engine = SimpleNamespace(spark=spark, settings=SimpleNamespace(scores_table=table))
    history = LakeHistory.of(engine, str(tmp_path / "lake" / "pql_scores"))

    def stored(day: str) -> pd.DataFrame:
        frame = (spark.table(f"{table}_alerts") if table else spark.read.parquet(history.alerts_output))
        return frame.where(f"as_of_date = '{day}'").toPandas()

    first = _run(history, "2024-05-06", .5)
    assert first["first_run"].all() and list(first["account_id"]) == ["a"]
    assert _run(history, "2024-05-07", .52).empty  # +2 points: nothing changed
    assert stored("2024-05-07").empty and len(stored("2024-05-06")) == 1  # a quiet night's partition: no rows
    third = _run(history, "2024-05-08", .70)
    assert list(third["change"]) == ["score +18 pts"] and third["compared_with"].iloc[0] == pd.Timestamp("2024-05-07")
    assert _run(history, "2024-05-08", .70).equals(third)  # a rerun: the same comparison, the day's alerts replaced
    assert list(stored("2024-05-08")["change"]) == ["score +18 pts"]
    gap = _run(history, "2024-05-11", .40)  # two days skipped: against 05-08
    assert list(gap["change"]) == ["score -30 pts"]
    assert pd.Timestamp(stored("2024-05-11")["compared_with"].iloc[0]) == pd.Timestamp("2024-05-08")
    _run(history, "2024-05-08", .55)  # a rerun that changed its mind: a quiet night replaces the day's alerts
    assert stored("2024-05-08").empty and len(stored("2024-05-11")) == 1
    if kind == "dataset":
        assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["pql_scores", "pql_scores_alerts"]
    else:
        assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["pql_scores", "pql_scores_alerts"]
        spark.sql("DROP DATABASE pql_lake_test CASCADE")
