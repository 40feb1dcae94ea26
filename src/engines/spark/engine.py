"""The Spark engine: the local loader and builder run per bucket of accounts, on executors.

1. ``load_tables``: each table gets a bucket column (a hash of its account id); every table's rows are
   packed per bucket where they are read and the packs of a bucket are grouped; each bucket is validated by
   ``features.data.load.load_frames`` (:mod:`.kernel`) and kept, validated, as one binary row per bucket
   (persisted). The driver gets the accounts, conversions, the summed load report and, per event type and
   day, how many rows can reach a feature (what planning needs), never the events themselves.
2. ``plan_features``: ``features.plan.plan_features`` itself, on the driver, over the accounts and a
   compact event log with the same reachable counts' order at the as-of (:mod:`.plan`).
3. ``build_features`` / ``build_training_table``: the spec is broadcast and ``features.build`` runs on
   each bucket (``mapInPandas``); the frames come back to the driver, ordered as the local engine orders them.
"""
from __future__ import annotations

import logging
import math
import time
import pickle
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from features import build
from features.config import TABLES, DataConfig, FeatureConfig
from features.errors import DataError, PipelineError
from features.plan import plan_features
from features.data.load import load_frames
from features.snapshots import reach_day
from features.spec import FeatureSpec
from features.tables import EventLog, LoadReport, Tables
from features.windows import DAY_US, to_us

from engines.settings import EngineConfig
from engines.spark import kernel
from engines.spark.plan import planning_tables
from engines.spark.read import read_tables
from engines.spark.session import spark_session
from engines.spark.tables import SparkState, SparkTables

log = logging.getLogger("pql")

EVENTS_PER_BUCKET = 2_000_000  # automatic bucket count: at least one bucket per this many events
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates: fewer rows at midnight are a hand-made table


class PipelineFailure(PipelineError):
    """A bucket's PipelineError, re-raised on the driver with its message and exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class SparkEngine:
    """Features on Apache Spark with the local engine's kernel (see the module docstring)."""

    name = "spark"

    def __init__(self, settings: EngineConfig):
        self.settings = settings
        self._spark = None

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = spark_session(self.settings)
        return self._spark

    # -- loading --------------------------------------------------------------------------------

    def load_tables(self, data: DataConfig, instants: Sequence[object] = ()) -> tuple[SparkTables, LoadReport]:
        """Read and validate the source on Spark; ``instants``: as-ofs to plan at exactly (any instant;
        midnights are always exact)."""
        raw, description = read_tables(self.spark, data, self.settings)
        return self._load(raw, data, description, instants)

    def load_frames(self, frames: dict[str, pd.DataFrame | None], data: DataConfig | None = None,
                    instants: Sequence[object] = ()) -> tuple[SparkTables, LoadReport]:
        """The same as :meth:`load_tables` for pandas DataFrames (tests, notebooks): moved into Spark first."""
        raw = {t: (_to_spark(self.spark, frames[t]) if frames.get(t) is not None else None) for t in TABLES}
        return self._load(raw, data or DataConfig(), "in-memory tables (Spark)", instants)

    def _load(self, raw: dict[str, Any], data: DataConfig, description: str, instants: Sequence[object]
              ) -> tuple[SparkTables, LoadReport]:
        spark = self.spark
        empty = _check_schema(raw, data, description)
        duplicates, rows = {}, {}
        for table in ("events", "touches"):
            if raw.get(table) is not None:
                duplicates[table], rows[table] = _duplicates_setting(raw[table], table, data)
        if self.settings.partitions:
            n = int(self.settings.partitions)
        else:
            events = rows["events"] if rows["events"] is not None else raw["events"].count()
            n = max(2 * spark.sparkContext.defaultParallelism, math.ceil(events / EVENTS_PER_BUCKET))
        keyed = {t: f.withColumn("_bucket", _bucket(f, kernel.id_column(data, t), n))
                 for t, f in raw.items() if f is not None}
        anchors = {t: raw[t].limit(1).toPandas() for t in ("accounts", "events")}
        config = replace(data, duplicates=duplicates["events"])
        touches_dup = duplicates.get("touches")
        times = [to_us(t) for t in instants]
        has_touches = raw.get("touches") is not None

        # Each table's rows are packed where they are read, one blob per (input partition, bucket): only these
        # blobs are shuffled, never sorted row by row (a groupBy over raw events sorts them all).
        packed = None
        for table in TABLES:
            if table in keyed:
                part = keyed[table].mapInPandas(_packer(table), "_bucket int, table string, blob binary")
                packed = part if packed is None else packed.unionByName(part)

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
                            names={k: getattr(t, k).names for k in ("events", "touches") if getattr(t, k) is not None},
                            has_user=t.events.user is not None, has_quantity=t.events.quantity is not None)
            return pd.DataFrame({"bucket": [int(key[0])], "meta": [pickle.dumps(meta)],
                                 "tables": [pickle.dumps(result.tables)]})

        validated = packed.groupBy("_bucket").applyInPandas(validate, "bucket int, meta binary, tables binary")
        level = self.settings.storage_level.upper()
        if level != "NONE":
            from pyspark import StorageLevel

            validated = validated.persist(getattr(StorageLevel, level))
        metas = [(r["bucket"], pickle.loads(r["meta"])) for r in validated.select("bucket", "meta").collect()]
        metas.sort(key=lambda m: m[0])
        log.debug("Spark load: %d buckets, kernel seconds per bucket %s", n, [m.get("seconds") for _, m in metas])
        tables, report = _assemble(metas, data, description)
        state = SparkState(validated=validated.select("bucket", "tables"), buckets=n, reach=_sum_reach(metas),
                           reach_at=_sum_reach_at(metas), names=_names(metas),
                           has_user=any(m.get("has_user") for _, m in metas),
                           has_quantity=any(m.get("has_quantity") for _, m in metas), has_touches=has_touches,
                           bucket_events={b: m["report"].rows_read.get("events", 0) for b, m in metas},
                           engine=self)
        return SparkTables(**{f: getattr(tables, f) for f in tables.__dataclass_fields__}, state=state), report

    # -- planning and building -------------------------------------------------------------------

    def plan_features(self, tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
        if not isinstance(tables, SparkTables):
            return plan_features(tables, as_of_max, config)
        t = to_us(as_of_max) if not isinstance(as_of_max, (int, np.integer)) else int(as_of_max)
        reach = {name: self._reach_at(tables.state, name, t) for name in ("events", "touches")
                 if name in tables.state.names}
        return plan_features(planning_tables(tables, tables.state, reach, t), t, config)

    def _reach_at(self, state: SparkState, name: str, t: int) -> pd.DataFrame:
        """Per kind: rows that can reach a feature at some as-of <= t, and whether their quantity varies."""
        if t in state.reach_at.get(name, {}):
            return state.reach_at[name][t]
        if t % DAY_US == 0:
            by_day = state.reach.get(name, pd.DataFrame({"kind": [], "day": [], "n": [], "varies": []}))
            return kernel.summed_reach([by_day[by_day["day"] < reach_day(t)]], "kind")
        # an instant inside a day: count it on the executors, once
        def count(batches):
            for pdf in batches:
                rows = []
                for blob in pdf["tables"]:
                    bucket = pickle.loads(blob)
                    log_ = getattr(bucket, name) if bucket is not None else None
                    if log_ is not None:
                        rows.append(kernel.reach_before(bucket, log_, t))
                yield pd.DataFrame({"frame": [pickle.dumps(rows)]})

        parts = [f for r in state.validated.mapInPandas(count, "frame binary").collect()
                 for f in pickle.loads(r["frame"])]
        out = kernel.summed_reach(parts or [pd.DataFrame({"kind": [], "n": [], "varies": []})], "kind")
        state.reach_at.setdefault(name, {})[t] = out
        return out

    def build_features(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
                       progress: bool = False) -> pd.DataFrame:
        if not isinstance(tables, SparkTables):
            return build.build_features(tables, as_of, spec, progress=progress)
        return self._build(tables, as_of, spec, None)

    def build_training_table(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                             progress: bool = False) -> pd.DataFrame:
        if not isinstance(tables, SparkTables):
            return build.build_training_table(tables, as_of, spec, horizon_days, progress=progress)
        return self._build(tables, as_of, spec, int(horizon_days))

    def map_buckets(self, tables: SparkTables, task) -> list[Any]:
        """``task(bucket_tables)`` on every non-empty bucket, on the executors; the (picklable) results."""
        def run(batches):
            for pdf in batches:
                for blob in pdf["tables"]:
                    bucket = pickle.loads(blob)
                    if bucket is not None and bucket.n_accounts:
                        yield pd.DataFrame({"out": [pickle.dumps(task(bucket))]})

        return [pickle.loads(r["out"]) for r in tables.state.validated.mapInPandas(run, "out binary").collect()]

    def _build(self, tables: SparkTables, as_of: Sequence[object], spec: FeatureSpec, horizon: int | None
               ) -> pd.DataFrame:
        times = sorted({to_us(t) if not isinstance(t, (int, np.integer)) else int(t) for t in as_of})
        frames = self.map_buckets(tables, lambda bucket: kernel.features_of(bucket, times, spec, horizon))
        return collect_frames(frames)


def _to_spark(spark: Any, frame: pd.DataFrame) -> Any:
    """A pandas frame in Spark; an empty one with the types its columns have (text where they have none)."""
    if len(frame):
        return spark.createDataFrame(frame)
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in schema])
    return spark.createDataFrame([], from_arrow_schema(schema))


def collect_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The buckets' frames as one, ordered by as-of then account id (as the local builder orders them)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0] if frames else pd.DataFrame()
    out = pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]
    return out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)


# -- helpers of load_tables -----------------------------------------------------------------------

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
    tables = Tables(accounts=accounts, created_us=created, converted_us=converted, events=EventLog.empty(),
                    touches=None, fit_columns=parts[0]["fit_columns"], data_end_us=int(max(ends)),
                    conversions=conversions)
    return tables, report


def _sum_reach(metas: list[tuple[int, dict]]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("events", "touches"):
        parts = [m["reach"][name] for _, m in metas if name in m.get("reach", {})]
        if parts:
            out[name] = kernel.summed_reach(parts, ["kind", "day"])
    return out


def _sum_reach_at(metas: list[tuple[int, dict]]) -> dict[str, dict[int, pd.DataFrame]]:
    out: dict[str, dict[int, pd.DataFrame]] = {}
    for name in ("events", "touches"):
        instants = {t for _, m in metas for t in m.get("reach_at", {}).get(name, {})}
        for t in instants:
            parts = [m["reach_at"][name][t] for _, m in metas if t in m.get("reach_at", {}).get(name, {})]
            out.setdefault(name, {})[t] = kernel.summed_reach(parts, "kind")
    return out


def _names(metas: list[tuple[int, dict]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for _, m in metas:
        for name, kinds in m.get("names", {}).items():
            seen = out.setdefault(name, [])
            seen += [k for k in kinds if k not in seen]
    return {k: tuple(v) for k, v in out.items()}
