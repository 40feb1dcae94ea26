"""Loading on Spark: the source's tables validated per bucket of accounts by the local loader.

Every table's rows are cut per bucket (a hash of the account id, :mod:`.arrow`) where they are read, as
Arrow IPC blobs: by the executors straight from the Parquet files with pyarrow (:mod:`.files`), or from
Spark's own reader in Arrow batches (``mapInArrow``: catalog tables, Hadoop-only paths, frames). Only the
blobs are shuffled; each bucket's blobs are put together as Arrow tables and validated by
``features.data.load.load_frames`` (:mod:`.kernel`, ``applyInArrow``) and kept, validated, as one binary
row per bucket (persisted). No raw row becomes a pandas frame. The driver gets the accounts, conversions,
the summed load report and, per event type and day, how many rows can reach a feature (what planning
needs), never the events themselves.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import pandas as pd
import pyarrow as pa

from features.config import TABLES, DataConfig
from features.errors import DataError
from features.data.load import load_frames
from features.tables import LoadReport
from features.windows import to_us

from engines.buckets import assemble, names_of, sum_reach, sum_reach_at
from engines.settings import EngineConfig
from engines.spark import kernel
from engines.spark.arrow import from_ipc, naive_utc, split
from engines.spark.errors import merged_error
from engines.spark.files import ParquetTable, head, read_task
from engines.spark.tables import SparkState, SparkTables

log = logging.getLogger("pql")

EVENTS_PER_BUCKET = 2_000_000  # automatic bucket count: at least one bucket per this many events
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates: fewer rows at midnight are a hand-made table
VALIDATED = "bucket int, meta binary, tables binary"
PACKED = "_bucket int, table string, blob binary"


def load_source(engine: Any, raw: dict[str, Any], data: DataConfig, description: str, instants: Sequence[object],
                files: dict[str, ParquetTable | None] | None = None) -> tuple[SparkTables, LoadReport]:
    """The tables ``raw`` (Spark DataFrames, ``None`` for an absent table) loaded as the local engine loads
    them, validated per bucket on the executors; ``files``: the same tables as Parquet the executors read
    with pyarrow (then ``raw`` serves only whole-table counts); ``engine``: the SparkEngine that holds them."""
    spark, settings = engine.spark, engine.settings
    empty, anchors = _heads(raw, files)
    _check_schema(empty, data, description)
    if raw.get("users") is not None:
        _check_users(raw["users"], data)
    duplicates, rows = {}, {}
    for table in ("events", "touches"):
        if raw.get(table) is not None:
            duplicates[table], rows[table] = _duplicates_setting(raw[table], table, data)
    counted = rows["events"] if rows["events"] is not None or files is None else files["events"].rows  # footers
    n = _bucket_count(spark, settings, raw["events"], counted)
    packed = _read_files(spark, files, data, n) if files is not None else _packed(raw, data, n)
    has_touches = raw.get("touches") is not None
    validate = _validator(empty, anchors, replace(data, duplicates=duplicates["events"]), duplicates.get("touches"),
                          [to_us(t) for t in instants], has_touches)
    validated = _persisted(packed.groupBy("_bucket").applyInArrow(validate, VALIDATED), settings.storage_level)
    metas = [(r["bucket"], pickle.loads(r["meta"])) for r in validated.select("bucket", "meta").collect()]
    metas.sort(key=lambda m: m[0])
    log.debug("Spark load: %d buckets, kernel seconds per bucket %s", n, [m.get("seconds") for _, m in metas])
    error = merged_error([m["error"] for _, m in metas if m["error"]])  # counted over every bucket
    if error is not None:
        raise error
    tables, report = assemble(metas, data, description)
    state = SparkState(validated=validated.select("bucket", "tables"), buckets=n, reach=sum_reach(metas),
                       reach_at=sum_reach_at(metas), names=names_of(metas),
                       has_user=any(m.get("has_user") for _, m in metas),
                       has_quantity=any(m.get("has_quantity") for _, m in metas), has_touches=has_touches,
                       bucket_events={b: m["report"].rows_read.get("events", 0) for b, m in metas},
                       engine=engine)
    return SparkTables(**{f: getattr(tables, f) for f in tables.__dataclass_fields__}, state=state), report


def _heads(raw: dict[str, Any], files: dict[str, ParquetTable | None] | None
           ) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Per table: an empty Arrow table of its columns and types (the types every bucket's rows take), and the
    first row of accounts and events (a bucket without such rows copies its sentinel from them)."""
    if files is not None:
        empty = {t: f.schema.empty_table() for t, f in files.items() if f is not None}
        return empty, {t: head(files[t], 1) for t in ("accounts", "events")}
    empty = {t: naive_utc(f.limit(0).toArrow()) for t, f in raw.items() if f is not None}
    return empty, {t: naive_utc(raw[t].limit(1).toArrow()) for t in ("accounts", "events")}


def _bucket_count(spark: Any, settings: EngineConfig, events: Any, rows: int | None) -> int:
    """``engine.partitions``, or enough buckets for the cores and for at most EVENTS_PER_BUCKET events each."""
    if settings.partitions:
        return int(settings.partitions)
    counted = rows if rows is not None else events.count()
    return max(2 * spark.sparkContext.defaultParallelism, math.ceil(counted / EVENTS_PER_BUCKET))


def _blobs(table: str, frame: pa.Table, id_column: str, n: int) -> pa.RecordBatch:
    """One row per bucket of ``frame``: (bucket, table, its rows as an Arrow IPC blob)."""
    cut = list(split(frame, id_column, n))
    return pa.RecordBatch.from_pydict({"_bucket": pa.array([b for b, _ in cut], pa.int32()),
                                       "table": pa.array([table] * len(cut), pa.string()),
                                       "blob": pa.array([blob for _, blob in cut], pa.binary())})


def _packed(raw: dict[str, Any], data: DataConfig, n: int) -> Any:
    """Spark's rows of every table in Arrow batches, cut per bucket where they are read (one blob per input
    partition and bucket): only these blobs are shuffled, never a row."""
    packed = None
    for table in TABLES:
        if raw.get(table) is None:
            continue
        id_column = kernel.id_column(data, table)

        def pack(batches, table=table, id_column=id_column):
            full = [b for b in batches if b.num_rows]
            if full:
                yield _blobs(table, naive_utc(pa.Table.from_batches(full)), id_column, n)

        part = raw[table].mapInArrow(pack, PACKED)
        packed = part if packed is None else packed.unionByName(part)
    return packed


def _tasks(spark: Any, files: dict[str, ParquetTable | None], tables: Sequence[str]) -> Any:
    """One row (table, task number) per read task of ``tables``, one per partition: what Spark hands out."""
    from pyspark.sql import types as T

    tasks = [(t, i) for t in tables if files.get(t) is not None for i in range(len(files[t].tasks))]
    schema = T.StructType([T.StructField("table", T.StringType()), T.StructField("task", T.IntegerType())])
    return spark.createDataFrame(spark.sparkContext.parallelize(tasks, max(len(tasks), 1)), schema)


def _read_files(spark: Any, files: dict[str, ParquetTable | None], data: DataConfig, n: int) -> Any:
    """The Parquet files read by the executors with pyarrow, a task (some row groups of a file) at a time,
    and cut per bucket: Spark hands out the tasks and shuffles the blobs, and never sees a row."""
    frame = _tasks(spark, files, TABLES)
    ids = {t: kernel.id_column(data, t) for t in files}

    def read(batches):
        for batch in batches:
            for table, i in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                source = files[table]
                path, groups = source.tasks[i]
                yield _blobs(table, read_task(source.uri, path, groups, source.schema), ids[table], n)

    return frame.mapInArrow(read, PACKED)


def _validator(empty: dict[str, pa.Table], anchors: dict[str, pa.Table], config: DataConfig,
               touches_dup: str | None, times: list[int], has_touches: bool) -> Callable:
    """``applyInArrow``: one bucket's blobs put together and validated (:func:`kernel.validate_bucket`), as one
    row (bucket, pickled meta: report, error, planning statistics, driver's tables; pickled validated tables)."""
    def validate(key, parts):  # (no type hints: PySpark 4.3 reads them and fails on partial ones)
        started = time.perf_counter()
        names, blobs = parts.column("table").to_pylist(), parts.column("blob")
        frames: dict[str, pa.Table | None] = {}
        for table, head_ in empty.items():
            mine = [blobs[i].as_buffer() for i, name in enumerate(names) if name == table]
            frames[table] = from_ipc(mine, head_.schema)
        if not has_touches:
            frames["touches"] = None
        unpacked = time.perf_counter()
        result = kernel.validate_bucket(frames, anchors, config, touches_dup, times)
        meta = {"report": result.report, "error": result.error, "reach": result.reach, "reach_at": result.reach_at,
                "seconds": {"unpack": unpacked - started, "validate": time.perf_counter() - unpacked}}
        if result.tables is not None:
            t = result.tables
            meta.update(accounts=t.accounts, created_us=t.created_us, converted_us=t.converted_us,
                        conversions=t.conversions, fit_columns=t.fit_columns, data_end_us=t.data_end_us,
                        attributes=t.attributes,
                        names={k: getattr(t, k).names for k in ("events", "touches") if getattr(t, k) is not None},
                        has_user=t.events.user is not None, has_quantity=t.events.quantity is not None,
                        users=None if t.users is None else kernel.no_users(t.users.attributes.iloc[:0], config))
        return pa.table({"bucket": pa.array([int(key[0].as_py())], pa.int32()),
                         "meta": pa.array([pickle.dumps(meta)], pa.binary()),
                         "tables": pa.array([pickle.dumps(result.tables)], pa.binary())})

    return validate


def _persisted(validated: Any, storage_level: str) -> Any:
    """The validated buckets kept at ``engine.storage_level`` (``NONE``: recomputed by every job)."""
    level = storage_level.upper()
    if level == "NONE":
        return validated
    from pyspark import StorageLevel

    return validated.persist(getattr(StorageLevel, level))


def _check_schema(heads: dict[str, pa.Table], data: DataConfig, description: str) -> None:
    """Missing tables and columns, bad mappings: the local loader's own checks, on the tables' empty heads,
    before any Spark job (an ``is empty`` of accounts means the schema passed). Empty tables are refused by
    the buckets' own loads: without rows there is no sentinel row to copy, so every bucket reports the local
    engine's error."""
    try:
        load_frames(heads, data, description)
    except DataError as exc:
        if not (exc.table == "accounts" and exc.problem == "is empty"):
            raise


def _check_users(users: Any, data: DataConfig) -> None:
    """The users table's whole-table rules that a bucket cannot see (it holds some accounts' users): an empty
    table, and a user id in two accounts (buckets hold accounts), as the local loader words them."""
    from pyspark.sql import functions as F

    uid, acc = (f"`{data.column('users', n)}`" for n in ("user_id", "account_id"))
    twice = users.groupBy(F.col(uid).cast("string").alias("u")).agg(
        F.countDistinct(F.col(acc).cast("string")).alias("a")).filter("a > 1 AND u IS NOT NULL")
    n = users.limit(1).count()
    if not n:
        raise DataError("users", None, "is empty (leave the table out when there are no users)")
    found = twice.select("u").orderBy("u").limit(3).collect()
    if found:
        ex = ", ".join(repr(r["u"]) for r in found)
        raise DataError("users", data.column("users", "user_id"), f"{twice.count():,} user ids are in two or more "
                                                                  f"accounts, e.g. {ex}: a user belongs to one account")


def _duplicates_setting(frame: Any, table: str, data: DataConfig) -> tuple[str, int | None]:
    """``data.duplicates`` decided over the whole table, as the local loader decides it: ``auto`` keeps repeated
    rows when every timestamp is a date (00:00 UTC) in a table of at least 1,000 rows; and the table's rows
    when they were counted for it."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    setting = data.duplicates
    if setting != "auto":
        return setting, None
    column = data.column(table, "timestamp") or "timestamp"
    c = F.col(f"`{column}`")
    if data.columns.get(table, {}).get("timestamp_format") is not None:
        # text in a strftime format: read by the local loader's own code, a part of the table at a time (Spark's
        # to_timestamp reads ISO text only, and throws on anything else under ANSI mode)
        from features.data.mapping import off_midnight

        def count(parts):  # the text of one column, the local loader's parser needs it as pandas
            for part in parts:
                n, off = off_midnight(part.to_pandas(), data, table)
                yield pa.RecordBatch.from_pydict({"n": pa.array([n], pa.int64()), "off": pa.array([off], pa.int64())})

        row = frame.select(c).mapInArrow(count, "n long, off long").agg(
            F.sum("n").alias("n"), F.sum("off").alias("off")).collect()[0]
        day_resolution = (row["n"] or 0) >= DAY_RESOLUTION_MIN_ROWS and not (row["off"] or 0)
        return ("keep" if day_resolution else "set_aside"), int(row["n"] or 0)
    kind = frame.schema[column].dataType
    unit = data.unit(table)
    if unit:
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}.get(unit, 86_400)
        off = F.pmod(c.cast("double"), F.lit(float(per_day))) != 0
    else:
        ts = c if isinstance(kind, (T.TimestampType, T.TimestampNTZType, T.DateType)) else F.try_to_timestamp(c)
        if isinstance(kind, (T.TimestampNTZType, T.DateType, T.StringType)) and data.timezone.upper() != "UTC":
            ts = F.to_utc_timestamp(ts, data.timezone)
        ts = ts.cast("timestamp")
        off = F.coalesce(ts != F.date_trunc("day", ts), F.lit(True))
    row = frame.agg(F.count(F.lit(1)).alias("n"), F.sum(off.cast("long")).alias("off")).collect()[0]
    day_resolution = row["n"] >= DAY_RESOLUTION_MIN_ROWS and not (row["off"] or 0)
    return ("keep" if day_resolution else "set_aside"), int(row["n"])


