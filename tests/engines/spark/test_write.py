"""Scoring on Spark with the registered model: the same scores table as the local engine (to 1e-9), written
to a Parquet dataset partitioned by as_of_date where a rerun replaces exactly its day and a failed write
leaves the previous data intact. (Training on Spark-built tables is held to the local run by the parity of
the labelled tables in spark/test_engine.py: downstream of them the code is the same.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

# slow: starts Spark (a JVM); the "spark" group keeps every Spark test on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark"),
              pytest.mark.filterwarnings("ignore:PySpark does not yet")]

DEMO = ["data.demo.accounts=300", "data.demo.days=240", "data.demo.start=2024-01-01", "progress=false"]
SPARK = ["engine=spark", "engine.partitions=3", "engine.master='local[2]'"]


def _compose(command: str, overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    from app.preflight import compose_config

    return OmegaConf.to_container(compose_config(command, overrides), resolve=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spark):
    """One model trained on the local engine, registered in a temporary MLflow store."""
    import mlflow

    from train.__main__ import run_job

    root = tmp_path_factory.mktemp("spark-train")
    uri = f"sqlite:///{root}/mlflow.db"
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        yield uri, run_job(_compose("train", [*DEMO, f"tracking.uri={uri}"]), root / "local")
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def test_spark_scores_equal_local_scores_and_land_in_a_day_partition(trained, tmp_path) -> None:
    from serve.job import run_job

    uri = trained[0]
    base = [*DEMO, f"tracking.uri={uri}", "as_of=2024-08-05"]
    local = run_job(_compose("serve", [*base, f"output={tmp_path / 'local.parquet'}"]))
    lake = tmp_path / "lake" / "scores"
    on_spark = run_job(_compose("serve", [*base, *SPARK, f"output={lake}"]))
    assert on_spark.model_version == local.model_version
    a, b = on_spark.scores, local.scores
    assert list(a.columns) == list(b.columns) and (a["account_id"].to_numpy() == b["account_id"].to_numpy()).all()
    for column in a.columns:
        if pd.api.types.is_float_dtype(b[column]):
            np.testing.assert_allclose(a[column].to_numpy(float), b[column].to_numpy(float), rtol=0, atol=1e-9)
        else:
            pd.testing.assert_series_equal(a[column], b[column], check_dtype=True)
    written = pd.read_parquet(lake / "as_of_date=2024-08-05")
    assert len(written) == len(b) and sorted(written["account_id"]) == sorted(b["account_id"])
    np.testing.assert_allclose(written.sort_values("account_id")["score"].to_numpy(),
                               b.sort_values("account_id")["score"].to_numpy(), atol=1e-9)


def _scores(day: str, n: int, score: float) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(n)], "as_of": pd.Timestamp(day).as_unit("us"),
                         "score": np.full(n, score), "pql_tier": pd.array([1] * n, dtype="Int64")})


def _read_day(path, day: str) -> pd.DataFrame:
    return pd.read_parquet(path / f"as_of_date={day}").sort_values("account_id").reset_index(drop=True)


def test_a_rerun_replaces_only_its_day_and_a_failed_write_leaves_it(spark, tmp_path) -> None:
    from pyspark.sql import functions as F

    from engines.spark.write import write_partition

    out = tmp_path / "scores"
    write_partition(spark, _scores("2024-06-03", 5, 0.1), str(out), None, pd.Timestamp("2024-06-03"))
    write_partition(spark, _scores("2024-06-10", 4, 0.2), str(out), None, pd.Timestamp("2024-06-10"))
    write_partition(spark, _scores("2024-06-03", 3, 0.3), str(out), None, pd.Timestamp("2024-06-03"))
    first, second = _read_day(out, "2024-06-03"), _read_day(out, "2024-06-10")
    assert len(first) == 3 and (first["score"] == 0.3).all()  # replaced, not appended
    assert len(second) == 4 and (second["score"] == 0.2).all()  # the other day untouched
    write_partition(spark, _scores("2024-06-03", 3, 0.3), str(out), None, pd.Timestamp("2024-06-03"))
    pd.testing.assert_frame_equal(_read_day(out, "2024-06-03"), first)  # a rerun: identical rows

    @F.udf("double")
    def dies(score):  # a job killed midway: its tasks fail after the writer has started
        raise RuntimeError("killed")

    failing = spark.createDataFrame(_scores("2024-06-03", 7, 0.9)).withColumn("score", dies("score"))
    with pytest.raises(Exception, match="killed"):
        write_partition(spark, failing, str(out), None, pd.Timestamp("2024-06-03"))
    pd.testing.assert_frame_equal(_read_day(out, "2024-06-03"), first)
    pd.testing.assert_frame_equal(_read_day(out, "2024-06-10"), second)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "_"))) == [
        "as_of_date=2024-06-03", "as_of_date=2024-06-10"]
