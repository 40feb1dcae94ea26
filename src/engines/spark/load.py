"""Loading on Spark: the source's tables validated per bucket of accounts by the local loader.

Each table gets a bucket column (a hash of its account id); every table's rows are packed per bucket where
they are read and the packs of a bucket are grouped; each bucket is validated by
``features.data.load.load_frames`` (:mod:`.kernel`) and kept, validated, as one binary row per bucket
(persisted). The driver gets the accounts, conversions, the summed load report and, per event type and day,
how many rows can reach a feature (what planning needs), never the events themselves.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from features.config import TABLES, DataConfig
from features.errors import DataError, PipelineError
from features.data.load import load_frames
from features.asof import merged_history
from features.tables import EventLog, LoadReport, Tables
from features.windows import to_us

from engines.settings import EngineConfig
from engines.spark import kernel
from engines.spark.tables import SparkState, SparkTables

log = logging.getLogger("pql")

EVENTS_PER_BUCKET = 2_000_000  # automatic bucket count: at least one bucket per this many events
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates: fewer rows at midnight are a hand-made table
VALIDATED = "bucket int, meta binary, tables binary"


class PipelineFailure(PipelineError):
    """A bucket's PipelineError, re-raised on the driver with its message and exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def load_source(engine: Any, raw: dict[str, Any], data: DataConfig, description: str, instants: Sequence[object]
                ) -> tuple[SparkTables, LoadReport]:
    """The tables ``raw`` (Spark DataFrames, ``None`` for an absent table) loaded as the local engine loads
    them, validated per bucket on the executors; ``engine``: the SparkEngine that holds them afterwards."""
    spark, settings = engine.spark, engine.settings
    empty = _check_schema(raw, data, description)
    duplicates, rows = {}, {}
    for table in ("events", "touches"):
        if raw.get(table) is not None:
            duplicates[table], rows[table] = _duplicates_setting(raw[table], table, data)
    n = _bucket_count(spark, settings, raw["events"], rows["events"])
    keyed = {t: f.withColumn("_bucket", _bucket(f, kernel.id_column(data, t), n))
             for t, f in raw.items() if f is not None}
    anchors = {t: raw[t].limit(1).toPandas() for t in ("accounts", "events")}
    has_touches = raw.get("touches") is not None
    validate = _validator(empty, anchors, replace(data, duplicates=duplicates["events"]), duplicates.get("touches"),
                          [to_us(t) for t in instants], has_touches)
    validated = _persisted(_packed(keyed).groupBy("_bucket").applyInPandas(validate, VALIDATED),
                           settings.storage_level)
    metas = [(r["bucket"], pickle.loads(r["meta"])) for r in validated.select("bucket", "meta").collect()]
    metas.sort(key=lambda m: m[0])
    log.debug("Spark load: %d buckets, kernel seconds per bucket %s", n, [m.get("seconds") for _, m in metas])
    tables, report = _assemble(metas, data, description)
    state = SparkState(validated=validated.select("bucket", "tables"), buckets=n, reach=_sum_reach(metas),
                       reach_at=_sum_reach_at(metas), names=_names(metas),
                       has_user=any(m.get("has_user") for _, m in metas),
                       has_quantity=any(m.get("has_quantity") for _, m in metas), has_touches=has_touches,
                       bucket_events={b: m["report"].rows_read.get("events", 0) for b, m in metas},
                       engine=engine)
    return SparkTables(**{f: getattr(tables, f) for f in tables.__dataclass_fields__}, state=state), report


def _bucket_count(spark: Any, settings: EngineConfig, events: Any, rows: int | None) -> int:
    """``engine.partitions``, or enough buckets for the cores and for at most EVENTS_PER_BUCKET events each."""
    if settings.partitions:
        return int(settings.partitions)
    counted = rows if rows is not None else events.count()
    return max(2 * spark.sparkContext.defaultParallelism, math.ceil(counted / EVENTS_PER_BUCKET))


def _packed(keyed: dict[str, Any]) -> Any:
    """Every table's rows packed where they are read, one blob per (input partition, bucket): only these
    blobs are shuffled, never sorted row by row (a groupBy over raw events sorts them all)."""
    packed = None
    for table in TABLES:
        if table in keyed:
            part = keyed[table].mapInPandas(_packer(table), "_bucket int, table string, blob binary")
            packed = part if packed is None else packed.unionByName(part)
    return packed


def _validator(empty: dict[str, pd.DataFrame], anchors: dict[str, pd.DataFrame], config: DataConfig,
               touches_dup: str | None, times: list[int], has_touches: bool) -> Callable:
    """``applyInPandas``: one bucket's packs unpacked and validated (:func:`kernel.validate_bucket`), as one row
    (bucket, pickled meta: report, error, planning statistics, driver's tables; pickled validated tables)."""
    def validate(key, parts: pd.DataFrame) -> pd.DataFrame:
        started = time.perf_counter()
        frames: dict[str, pd.DataFrame | None] = {t: empty[t] for t in empty}
        for table, rows in parts.groupby("table", sort=False):
            pieces = [pickle.loads(b) for b in rows["blob"]]
            frames[table] = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
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
                        has_user=t.events.user is not None, has_quantity=t.events.quantity is not None)
        return pd.DataFrame({"bucket": [int(key[0])], "meta": [pickle.dumps(meta)],
                             "tables": [pickle.dumps(result.tables)]})

    return validate


def _persisted(validated: Any, storage_level: str) -> Any:
    """The validated buckets kept at ``engine.storage_level`` (``NONE``: recomputed by every job)."""
    level = storage_level.upper()
    if level == "NONE":
        return validated
    from pyspark import StorageLevel

    return validated.persist(getattr(StorageLevel, level))


def _check_schema(raw: dict[str, Any], data: DataConfig, description: str) -> dict[str, pd.DataFrame]:
    """Missing tables and columns, bad mappings: the local loader's own checks, on the tables' empty heads,
    before any Spark job (an ``is empty`` of accounts means the schema passed). Returns the empty heads
    (typed frames for buckets without rows of a table). Empty tables are refused by the buckets' own loads:
    without rows there is no sentinel row to copy, so every bucket reports the local engine's error."""
    heads = {t: f.limit(0).toPandas() for t, f in raw.items() if f is not None}
    try:
        load_frames(heads, data, description)
    except DataError as exc:
        if not (exc.table == "accounts" and exc.problem == "is empty"):
            raise
    return heads


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

        def count(parts):
            return (pd.DataFrame([off_midnight(part, data, table)], columns=["n", "off"]) for part in parts)

        row = frame.select(c).mapInPandas(count, "n long, off long").agg(
            F.sum("n").alias("n"), F.sum("off").alias("off")).collect()[0]
        day_resolution = (row["n"] or 0) >= DAY_RESOLUTION_MIN_ROWS and not (row["off"] or 0)
        return ("keep" if day_resolution else "set_aside"), int(row["n"] or 0)
    kind = frame.schema[column].dataType
    unit = data.unit(table)
    if unit:
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000}.get(unit, 86_400)
        off = F.pmod(c.cast("double"), F.lit(float(per_day))) != 0
    else:
        ts = c if isinstance(kind, (T.TimestampType, T.TimestampNTZType, T.DateType)) else F.to_timestamp(c)
        if isinstance(kind, (T.TimestampNTZType, T.DateType, T.StringType)) and data.timezone.upper() != "UTC":
            ts = F.to_utc_timestamp(ts, data.timezone)
        ts = ts.cast("timestamp")
        off = F.coalesce(ts != F.date_trunc("day", ts), F.lit(True))
    row = frame.agg(F.count(F.lit(1)).alias("n"), F.sum(off.cast("long")).alias("off")).collect()[0]
    day_resolution = row["n"] >= DAY_RESOLUTION_MIN_ROWS and not (row["off"] or 0)
    return ("keep" if day_resolution else "set_aside"), int(row["n"])


def _bucket(frame: Any, column: str, n: int) -> Any:
    """The bucket of each row: a hash of the account id's plain text (whole-number floats as integers, so
    ``12``, ``12.0`` and ``'12'`` land together, as the local loader matches them)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    c = F.col(f"`{column}`")
    kind = frame.schema[column].dataType
    if isinstance(kind, (T.FloatType, T.DoubleType, T.DecimalType)):
        text = F.when(c == F.floor(c), c.cast("bigint").cast("string")).otherwise(c.cast("string"))
    else:
        text = c.cast("string")
    return F.pmod(F.xxhash64(text), F.lit(n)).cast("int")


def _packer(table: str):
    """``mapInPandas``: the rows of one input partition of a table, pickled per bucket."""
    def pack(batches):
        frames = [b for b in batches if len(b)]
        if not frames:
            return
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        for bucket, rows in frame.groupby("_bucket", sort=True):
            yield pd.DataFrame({"_bucket": [int(bucket)], "table": [table],
                                "blob": [pickle.dumps(rows.drop(columns="_bucket").reset_index(drop=True))]})

    return pack


def _first_error(metas: list[tuple[int, dict]]) -> PipelineFailure | None:
    """The error the local loader would raise first: by table (accounts, events, conversions, touches)."""
    errors = [m["error"] for _, m in metas if m["error"]]
    if not errors:
        return None

    def order(error: tuple[str, int]) -> int:
        return next((i for i, t in enumerate(TABLES) if error[0].startswith(f"table '{t}'")), len(TABLES))

    message, code = min(errors, key=order)
    return PipelineFailure(message, code)


def _assemble(metas: list[tuple[int, dict]], data: DataConfig, description: str) -> tuple[Tables, LoadReport]:
    """The driver's tables and the load report, from the buckets' results; whole-table checks."""
    from features.data.checks import not_all_unknown  # the local loader's own whole-table rules
    from features.data.validate import check_strict, note_outliers

    error = _first_error(metas)
    if error is not None:
        raise error
    report = LoadReport(description)
    for table in TABLES:
        total = sum(m["report"].rows_read.get(table, 0) for _, m in metas)
        if any(table in m["report"].rows_read for _, m in metas):
            report.rows_read[table] = total
    for _, m in metas:
        for key, value in m["report"].set_aside.items():
            report.set_aside[key] = report.set_aside.get(key, 0) + value
    for table in ("events", "conversions", "touches"):
        if table in report.rows_read:
            not_all_unknown(table, data, report.rows_read[table], report.set_aside.get(f"{table}: unknown account", 0))
    check_strict(report, data.strict)
    parts = [m for _, m in metas if "accounts" in m]
    accounts = pd.concat([m["accounts"] for m in parts], ignore_index=True)
    created = np.concatenate([m["created_us"] for m in parts])
    converted = np.concatenate([m["converted_us"] for m in parts])
    order = accounts["account_id"].sort_values(kind="stable").index.to_numpy()
    accounts = accounts.iloc[order].reset_index(drop=True)
    created, converted = created[order], converted[order]
    conversions = pd.concat([m["conversions"] for m in parts], ignore_index=True)
    if len(conversions):
        conversions = conversions.sort_values(["account_id", "converted_at"], kind="stable").reset_index(drop=True)
    notes: list[str] = []
    for _, m in metas:
        notes += [n for n in m["report"].notes if n not in notes]
    dated = [n for n in notes if n.startswith("accounts column")]
    report.notes = dated
    note_outliers(created, report)
    report.notes += [n for n in notes if n not in dated]
    ends = [m["data_end_us"] for m in parts]
    history = merged_history([m.get("attributes") for m in parts], [len(m["accounts"]) for m in parts], order)
    fit_columns = tuple(c for c in parts[0]["fit_columns"] if c in accounts.columns)
    tables = Tables(accounts=accounts, created_us=created, converted_us=converted, events=EventLog.empty(),
                    touches=None, fit_columns=fit_columns + tuple(n for n in (history.names if history else ())
                                                                  if n not in fit_columns),
                    data_end_us=int(max(ends)), conversions=conversions, attributes=history)
    return tables, report


def _sum_reach(metas: list[tuple[int, dict]]) -> dict[str, pd.DataFrame]:
    """Per log: the buckets' reachable rows per (kind, day), added up."""
    out = {}
    for name in ("events", "touches"):
        parts = [m["reach"][name] for _, m in metas if name in m.get("reach", {})]
        if parts:
            out[name] = kernel.summed_reach(parts, ["kind", "day"])
    return out


def _sum_reach_at(metas: list[tuple[int, dict]]) -> dict[str, dict[int, pd.DataFrame]]:
    """Per log and per instant asked for while loading: the buckets' reachable rows per kind, added up."""
    out: dict[str, dict[int, pd.DataFrame]] = {}
    for name in ("events", "touches"):
        instants = {t for _, m in metas for t in m.get("reach_at", {}).get(name, {})}
        for t in instants:
            parts = [m["reach_at"][name][t] for _, m in metas if t in m.get("reach_at", {}).get(name, {})]
            out.setdefault(name, {})[t] = kernel.summed_reach(parts, "kind")
    return out


def _names(metas: list[tuple[int, dict]]) -> dict[str, tuple[str, ...]]:
    """Per log: the event (touch) types of every bucket, in order of first appearance."""
    out: dict[str, list[str]] = {}
    for _, m in metas:
        for name, kinds in m.get("names", {}).items():
            seen = out.setdefault(name, [])
            seen += [k for k in kinds if k not in seen]
    return {k: tuple(v) for k, v in out.items()}
