"""Loading on Spark: the source's tables validated per bucket of accounts by the local loader, with no row of a
bucket going through the JVM.

1. Split: every table's rows are cut per bucket (a hash of the account id, :func:`engines.buckets.buckets_of`)
   where they are read, by the executors straight from the Parquet files with pyarrow (:mod:`.files`; one task per
   read task), or from Spark's own reader in Arrow batches (``mapInArrow``: catalog tables, Hadoop-only paths,
   frames), and written to the run's scratch folder per bucket (:mod:`.scratch`): a shuffle on the Python side.
2. Validate: one task per bucket reads its rows back and loads them with the local loader (:mod:`engines.bucket_kernel`); its
   validated tables wait in the scratch folder for the build and scoring passes (:mod:`.engine`).

Spark only schedules the tasks and carries small results: the driver gets the accounts, conversions, the summed
load report and, per event type and day, how many rows can reach a feature (what planning needs), never the
events themselves. No raw row becomes a pandas frame.
"""
from __future__ import annotations

import logging
import math
import time
import weakref
from dataclasses import replace
from typing import Any, Sequence

import pyarrow as pa

from features.config import TABLES, DataConfig
from features.errors import DataError
from features.data.duplicates import DAY_RESOLUTION_MIN_ROWS
from features.data.load import load_frames
from features.data.mapping import off_midnight
from features.data.users import no_users_error
from features.tables import LoadReport
from features.windows import to_us

from engines.buckets import assemble, names_of, sum_reach, sum_reach_at
from engines.settings import EngineConfig
from engines.bucket_kernel import id_column, meta_of, validate_bucket
from engines.spark.arrow import naive_utc
from engines.spark.cores import use_task_cores
from engines.bucket_errors import merged_error
from engines.spark.files import ParquetTable, head, read_task
from engines.spark.scratch import drop_split, read_parts, remove, run_folder, store, validated, write_parts
from engines.spark.tables import SparkState, SparkTables

log = logging.getLogger("pql")

EVENTS_PER_BUCKET = 2_000_000  # automatic bucket count: at least one bucket per this many events


def load_source(engine: Any, raw: dict[str, Any], data: DataConfig, description: str, instants: Sequence[object],
                files: dict[str, ParquetTable | None] | None = None) -> tuple[SparkTables, LoadReport]:
    """The tables ``raw`` (Spark DataFrames, ``None`` for an absent table) loaded as the local engine loads
    them, validated per bucket on the executors; ``files``: the same tables as Parquet the executors read
    with pyarrow (then ``raw`` only says which tables there are, and holds the users' DataFrame for its
    whole-table checks); ``engine``: the SparkEngine that holds them.
    The buckets wait in a scratch folder (:mod:`.scratch`), deleted with the tables (or at once on failure)."""
    spark, settings = engine.spark, engine.settings
    folder = run_folder(spark, settings)
    try:
        empty, anchors = _heads(raw, files)
        _check_schema(empty, data, description)
        if raw.get("users") is not None:
            _check_users(raw["users"], data)
        n = _bucket_count(spark, settings, raw["events"], files["events"].rows if files is not None else None)
        started = time.perf_counter()
        duplicates, sizes = _split(spark, raw, files, data, n, folder)
        split_s = time.perf_counter() - started
        config = replace(data, duplicates=duplicates["events"])
        metas = _validate(spark, folder, n, empty, anchors, config, duplicates.get("touches"),
                          [to_us(t) for t in instants], raw.get("touches") is not None, sizes)
        log.debug("Spark load: %d buckets, split %.1f s, validated %.1f s; kernel seconds per bucket %s", n, split_s,
                  time.perf_counter() - started - split_s, [m.get("seconds") for _, m in metas])
        error = merged_error([m["error"] for _, m in metas if m["error"]])  # counted over every bucket
        if error is not None:
            raise error
        tables, report = assemble(metas, data, description)
    except BaseException:
        remove(folder)
        raise
    state = SparkState(folder=folder, buckets=n, reach=sum_reach(metas), reach_at=sum_reach_at(metas),
                       names=names_of(metas), has_user=any(m.get("has_user") for _, m in metas),
                       has_quantity=any(m.get("has_quantity") for _, m in metas),
                       has_touches=raw.get("touches") is not None,
                       filled=tuple(b for b, m in metas if m.get("n_accounts")),
                       loaded=tuple(b for b, m in metas if "accounts" in m),
                       bucket_events={b: m["report"].rows_read.get("events", 0) for b, m in metas}, engine=engine)
    weakref.finalize(state, remove, folder)  # the scratch folder goes with the tables (or at exit)
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


def _split(spark: Any, raw: dict[str, Any], files: dict[str, ParquetTable | None] | None, data: DataConfig, n: int,
           folder: str) -> tuple[dict[str, str], dict[int, int]]:
    """Every table split per bucket into the scratch folder (:func:`_split_files` or :func:`_split_frames`).
    Returns per log ``data.duplicates`` decided over the whole table from the parts' counts, as the local loader
    decides it (``auto`` keeps repeated rows when every timestamp is a date, 00:00 UTC, in a table of at least
    1,000 rows), and the rows per bucket (from Parquet files, whose read tasks count them; Spark's partitions
    do not)."""
    counts = _split_files(spark, files, data, n, folder) if files is not None else _split_frames(raw, data, n, folder)
    sizes: dict[int, int] = {}  # rows per bucket, of every table (read tasks of Parquet files say; frames do not)
    for c in counts:
        for b, rows in (c[3] if len(c) > 3 else {}).items():
            sizes[b] = sizes.get(b, 0) + rows
    out = {}
    for table in ("events", "touches"):
        if raw.get(table) is not None:
            rows, off = (sum(c[i] for c in counts if c[0] == table) for i in (1, 2))
            day_resolution = rows >= DAY_RESOLUTION_MIN_ROWS and not off
            out[table] = data.duplicates if data.duplicates != "auto" else "keep" if day_resolution else "set_aside"
    return out, sizes


def _counted(frame: pa.Table, table: str, data: DataConfig) -> tuple[str, int, int]:
    """(table, rows, rows whose time is not 00:00 UTC or unreadable) of a part, the time read by the local loader's
    own code (:func:`features.data.mapping.off_midnight`; logs only, when ``data.duplicates`` is ``auto``)."""
    if data.duplicates == "auto" and table in ("events", "touches") and len(frame):
        return (table, *off_midnight(frame, data, table))
    return table, len(frame), 0


def _split_files(spark: Any, files: dict[str, ParquetTable | None], data: DataConfig, n: int, folder: str
                 ) -> list[tuple[str, int, int]]:
    """The Parquet files read by the executors with pyarrow, a task (some row groups of a file) at a time, and
    written to the scratch folder per bucket: Spark hands out the tasks and never sees a row. Each part's
    :func:`_counted`."""
    tasks = [(t, i) for t in TABLES if files.get(t) is not None for i in range(len(files[t].tasks))]
    ids = {t: id_column(data, t) for t in files}

    def read(task: tuple[str, int]) -> tuple[str, int, int, dict[int, int]]:
        use_task_cores()
        table, i = task
        part = read_task(files[table], i)
        rows = write_parts(folder, table, str(i), part, ids[table], n)
        return (*_counted(part, table, data), rows)

    return spark.sparkContext.parallelize(tasks, max(len(tasks), 1)).map(read).collect()


def _split_frames(raw: dict[str, Any], data: DataConfig, n: int, folder: str) -> list[tuple[str, int, int]]:
    """Spark's rows of every table in Arrow batches (``mapInArrow``), written to the scratch folder per bucket
    where they are read (one file per input partition and bucket); only each part's :func:`_counted` comes back."""
    counted = None
    for table in TABLES:
        if raw.get(table) is None:
            continue
        column = id_column(data, table)

        def write(batches, table=table, column=column):  # (no type hints: PySpark 4.3 reads them)
            from pyspark import TaskContext

            use_task_cores()
            full = [b for b in batches if b.num_rows]
            part = naive_utc(pa.Table.from_batches(full)) if full else None
            if part is not None:
                write_parts(folder, table, str(TaskContext.get().partitionId()), part, column, n)
            name, rows, off = _counted(part, table, data) if part is not None else (table, 0, 0)
            yield pa.RecordBatch.from_pydict({"table": [name], "rows": pa.array([rows], pa.int64()),
                                              "off": pa.array([off], pa.int64())})

        job = raw[table].mapInArrow(write, "table string, rows long, off long")
        counted = job if counted is None else counted.unionByName(job)
    return [(r["table"], r["rows"], r["off"]) for r in counted.collect()]


def _validate(spark: Any, folder: str, n: int, empty: dict[str, pa.Table], anchors: dict[str, pa.Table],
              config: DataConfig, touches_dup: str | None, times: list[int], has_touches: bool,
              sizes: dict[int, int] | None = None) -> list[tuple[int, dict]]:
    """Each bucket validated by the local loader on an executor (:func:`engines.bucket_kernel.validate_bucket`; one task per
    bucket): its tables stored in the scratch folder, the split rows deleted once all are; per bucket, in bucket order, what
    the driver needs (report, error, planning statistics, the driver's tables), the biggest buckets handed out
    first (``sizes``)."""
    schemas = {t: head.schema for t, head in empty.items()}

    def validate(b: int) -> tuple[int, dict]:
        use_task_cores()
        started = time.perf_counter()
        frames: dict[str, pa.Table | None] = dict(read_parts(folder, b, schemas))
        if not has_touches:
            frames["touches"] = None
        unpacked = time.perf_counter()
        result = validate_bucket(frames, anchors, config, touches_dup, times)
        store(folder, validated(b), result.tables)
        meta = meta_of(result, config)
        meta["seconds"] = {"read": unpacked - started, "validate": time.perf_counter() - unpacked}
        return b, meta

    # the biggest buckets first (``sizes``: rows per bucket), so the stage does not end on one long task
    order = sorted(range(n), key=lambda b: -(sizes or {}).get(b, 0))
    metas = sorted(spark.sparkContext.parallelize(order, n).map(validate).collect(), key=lambda m: m[0])
    drop_split(folder)
    return metas


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
        raise no_users_error()
    found = twice.select("u").orderBy("u").limit(3).collect()
    if found:
        ex = ", ".join(repr(r["u"]) for r in found)
        raise DataError("users", data.column("users", "user_id"), f"{twice.count():,} user ids are in two or more "
                                                                  f"accounts, e.g. {ex}: a user belongs to one account")
