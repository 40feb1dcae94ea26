"""The scores table in the lake: Parquet partitioned by ``as_of_date`` (any Hadoop path) or a catalog table.

A run replaces exactly its day's partition (dynamic partition overwrite): Spark writes the new files to a
staging folder and swaps that one partition in when the job commits, so a job killed before the commit
leaves the previous data as it was, and a rerun of the day writes the same rows again.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from features.errors import ConfigError

PARTITION = "as_of_date"
_NOT_A_DATASET = (".csv", ".duckdb", ".db", ".sqlite")


def spark_target(output: str | None, scores_table: str | None) -> str:
    """Where a Spark scoring run writes, checked before any work: a catalog table, or a Parquet dataset folder."""
    if scores_table:
        return f"catalog table {scores_table}"
    text = str(output or "scores")
    scheme = text.split("://", 1)[0].lower().split("+")[0] if "://" in text else ""
    if scheme in ("sqlite", "postgresql", "postgres", "mysql", "duckdb"):
        raise ConfigError(f"output={text}: engine=spark writes a Parquet dataset (a folder on any Hadoop path: "
                          f"/data/scores, s3a://lake/pql/scores) or a catalog table (engine.scores_table)")
    if text.lower().endswith(_NOT_A_DATASET) or "{" in text:
        raise ConfigError(f"output={text}: engine=spark writes one Parquet dataset partitioned by {PARTITION} (a folder, "
                          f"no {{date}} and no .csv/.duckdb): give a folder, e.g. output=lake/pql_scores")
    return text


def write_partition(spark: Any, scores: Any, output: str | None, scores_table: str | None,
                    as_of: pd.Timestamp) -> str:
    """Replace the ``as_of`` day's partition with ``scores`` (pandas or Spark); returns where it went."""
    from pyspark.sql import functions as F

    day = f"{pd.Timestamp(as_of):%Y-%m-%d}"
    frame = scores if hasattr(scores, "sparkSession") else spark.createDataFrame(scores)
    frame = (frame.withColumn(PARTITION, F.lit(day).cast("date"))
             .repartition(1).sortWithinPartitions("account_id"))
    if scores_table:
        if spark.catalog.tableExists(scores_table):
            columns = spark.table(scores_table).columns
            frame.select(*columns).write.insertInto(scores_table, overwrite=True)
        else:
            frame.write.format("parquet").partitionBy(PARTITION).saveAsTable(scores_table)
        return f"catalog table {scores_table} ({PARTITION}={day})"
    target = spark_target(output, None)
    frame.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy(PARTITION).parquet(target)
    return f"{target.rstrip('/')}/{PARTITION}={day}"
