"""Alerts with ``engine=spark``: the previous run read from the lake, the alerts written as a sibling of the scores.

The scores are a Parquet dataset partitioned by ``as_of_date`` (any Hadoop path) or a catalog table
(``engine.scores_table``). The previous run is the newest ``as_of_date`` partition before the day's; the
alerts go to the sibling dataset ``<output>_alerts`` (``lake/pql_scores`` -> ``lake/pql_scores_alerts``) or the
catalog table ``<scores_table>_alerts``, partitioned the same way, so a rerun of a day replaces exactly that
day's alerts. Scores and alerts are two Spark jobs, each replacing its own partition atomically (a job killed
before its commit leaves that partition as it was); a crash between the two leaves the day's new scores with
its previous alerts, which a rerun of the day puts right (it compares with the same earlier day).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from engines.spark.write import PARTITION, spark_target, write_partition
from serve.alerts import AlertsConfig
from serve.realized.scores import checked_scores

ALERTS_SUFFIX = "_alerts"


@dataclass(frozen=True)
class LakeHistory:
    """The kept scores of a Spark output, and where its alerts go (a dataset folder, or a catalog table)."""

    engine: Any  # the SparkEngine: its session is started only when the lake is read or written
    output: str  # where the scores go, as said in the log
    dataset: str | None  # the scores' dataset folder (None: a catalog table)
    table: str | None  # the scores' catalog table (None: a dataset folder)
    settings: AlertsConfig = AlertsConfig()

    @classmethod
    def of(cls, engine: Any, output: str | None, settings: AlertsConfig = AlertsConfig()) -> "LakeHistory":
        """The history of a Spark output (``output`` a dataset folder, or ``engine.scores_table`` a catalog table),
        checked before any work."""
        table = engine.settings.scores_table
        where = spark_target(output, table)
        return cls(engine, where, None if table else where, table or None, settings)

    @property
    def alerts_output(self) -> str:
        """Where the alerts go: the sibling dataset folder or catalog table."""
        if self.table:
            return f"catalog table {self.table}{ALERTS_SUFFIX}"
        return f"{str(self.dataset).rstrip('/')}{ALERTS_SUFFIX}"

    def _read(self) -> Any | None:
        """The scores as a Spark DataFrame (None: nothing written yet)."""
        spark = self.engine.spark
        if self.table:
            return spark.table(self.table) if spark.catalog.tableExists(self.table) else None
        from pyspark.errors import AnalysisException

        try:
            return spark.read.parquet(self.dataset)
        except AnalysisException as exc:  # no such folder yet (or an empty one): nothing kept
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                return None
            raise

    def previous(self, as_of: pd.Timestamp) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
        """(the rows of the newest ``as_of_date`` partition before ``as_of``'s day, that run's as-of), or
        (None, None) when none was kept."""
        from pyspark.sql import functions as F

        frame = self._read()
        if frame is None or PARTITION not in frame.columns:
            return None, None
        day = f"{pd.Timestamp(as_of):%Y-%m-%d}"
        newest = frame.where(F.col(PARTITION) < F.lit(day).cast("date")).agg(F.max(PARTITION)).first()[0]
        if newest is None:
            return None, None
        rows = frame.where(F.col(PARTITION) == F.lit(newest)).drop(PARTITION).toPandas()
        if not len(rows):
            return None, None
        rows = checked_scores(rows, f"{self.output} ({PARTITION}={newest})")
        rows = rows.drop(columns=[c for c in rows.columns if str(c).startswith("__")])
        return rows, rows["as_of"].max()

    def write(self, scores: pd.DataFrame, alerts: pd.DataFrame, as_of: pd.Timestamp) -> tuple[str, str]:
        """Replace the day's partition of the scores, then of the alerts; returns where each went."""
        spark = self.engine.spark
        where = write_partition(spark, scores, self.dataset, self.table, as_of)
        table = f"{self.table}{ALERTS_SUFFIX}" if self.table else None
        dataset = None if table else self.alerts_output
        if alerts.empty:  # an overwrite with no row replaces no partition: a rerun's quiet night clears the day
            _clear_day(spark, dataset, table, as_of)
        alerts_to = write_partition(spark, _spark_frame(spark, alerts), dataset, table, as_of)
        return where, alerts_to


def _clear_day(spark: Any, dataset: str | None, table: str | None, as_of: pd.Timestamp) -> None:
    """Remove the ``as_of`` day's partition of a dataset folder or catalog table, if there is one."""
    day = f"{pd.Timestamp(as_of):%Y-%m-%d}"
    if table:
        if spark.catalog.tableExists(table):
            spark.sql(f"ALTER TABLE {table} DROP IF EXISTS PARTITION ({PARTITION} = DATE'{day}')")
        return
    jvm = spark.sparkContext._jvm  # Hadoop's file system: the dataset may be on any Hadoop path (s3a://, abfss://)
    path = jvm.org.apache.hadoop.fs.Path(f"{str(dataset).rstrip('/')}/{PARTITION}={day}")
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def _spark_frame(spark: Any, frame: pd.DataFrame) -> Any:
    """``frame`` as a Spark DataFrame typed by its pandas dtypes, even when it has no row (a quiet night)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in schema])
    return spark.createDataFrame(frame, schema=from_arrow_schema(schema))
