"""The four tables as Spark DataFrames: Parquet files or folders (any Hadoop path), catalog tables, or
the demo world (generated on the driver)."""
from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from features.config import OPTIONAL_TABLES, TABLES, DataConfig
from features.errors import ConfigError, DataError

from engines.settings import EngineConfig

OPTIONAL = OPTIONAL_TABLES  # touches, users, account_attributes


def _exists(spark: Any, path: str) -> bool:
    """Whether a Hadoop-compatible path (file://, hdfs://, s3a://, abfss://, a plain path) exists."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(hadoop_path))


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def read_tables(spark: Any, data: DataConfig, engine: EngineConfig, by_path: tuple[str, ...] = ()
                ) -> tuple[dict[str, Any], str]:
    """Each table of the source as a DataFrame (``touches`` None when absent), and a description; the Parquet
    tables of ``by_path`` as their path instead (the executors read them with pyarrow: Spark need not open
    them, which costs a job listing the files and reading their footers)."""
    if data.export:
        raise ConfigError("data.export (one raw event export) is not supported with engine=spark: derive accounts "
                          "and conversions in the lake, or run it with engine=local")
    if engine.tables:
        frames = {t: spark.table(engine.tables[t]) if t in engine.tables else None for t in TABLES}
        return frames, "catalog tables " + ", ".join(f"{t}={n}" for t, n in engine.tables.items())
    if data.duckdb:
        raise ConfigError("data.duckdb is not read by engine=spark: give data.dir (Parquet) or engine.tables")
    if data.dir:
        frames = {}
        for table in TABLES:
            candidates = [_join(data.dir, f"{table}.parquet"), _join(data.dir, table)]
            found = next((p for p in candidates if _exists(spark, p)), None)
            if found is None:
                if table in OPTIONAL:
                    frames[table] = None
                    continue
                other = [_join(data.dir, f"{table}{s}") for s in (".csv", ".csv.gz", ".jsonl", ".json")]
                if any(_exists(spark, p) for p in other):
                    raise DataError(table, None, f"engine=spark reads Parquet ({candidates[0]} or a folder "
                                                 f"{candidates[1]}/ of parts) or catalog tables (engine.tables); "
                                                 f"convert the text file or use engine=local")
                raise DataError(table, None, f"not found: no {candidates[0]} and no folder {candidates[1]}/")
            frames[table] = found if table in by_path else spark.read.parquet(found)
        return frames, f"Parquet folder {data.dir} (Spark)"
    return _demo(spark, data)


def _demo(spark: Any, data: DataConfig) -> tuple[dict[str, Any], str]:
    from demo import DemoConfig, generate_demo

    demo = DemoConfig(**data.demo_world())
    world = generate_demo(demo)
    frames = {t: (to_spark(spark, getattr(world, t)) if getattr(world, t) is not None else None) for t in TABLES}
    return frames, f"demo world ({demo.accounts} accounts, {demo.days} days from {demo.start}, seed {demo.seed}) on Spark"


def to_spark(spark: Any, frame: pd.DataFrame) -> Any:
    """A pandas frame in Spark, through Arrow (not PySpark's pandas conversion); columns without a type (all
    null, or empty) as text. Naive times are UTC wall times, as the session's time zone reads them."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in table.schema])
    return spark.createDataFrame(table.cast(schema))
