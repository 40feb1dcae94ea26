"""The Spark engine: the local loader and builder run per bucket of accounts, on executors.

1. ``load_tables``: the source is read on Spark and validated per bucket of accounts by the local loader
   (:mod:`.load`); the driver gets the accounts, conversions, the summed load report and the counts planning
   needs, never the events themselves.
2. ``plan_features``: ``features.plan.plan_features`` itself, on the driver, over the accounts and a
   compact event log with the same reachable counts' order at the as-of (:mod:`.plan`).
3. ``build_features`` / ``build_training_table``: ``features.build`` runs on each bucket, one Spark task per
   bucket reading its validated tables from the scratch folder; the frames come back to the driver, ordered as
   the local engine orders them.
4. ``map_accounts``: any picklable task (serving's scoring task) runs on each bucket the same way.
"""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from features import build
from features.config import TABLES, DataConfig, FeatureConfig
from features.plan import plan_features
from features.snapshots import reach_day
from features.spec import FeatureSpec
from features.tables import LoadReport, Tables
from features.windows import DAY_US, to_us

from engines.buckets import collect_frames, summed_reach
from engines.settings import EngineConfig
from engines.bucket_kernel import features_of, id_column, reach_before
from engines.spark.cores import use_task_cores
from engines.spark.files import parquet_tables
from engines.spark.load import load_source
from engines.spark.plan import planning_tables
from engines.spark.read import read_tables, to_spark
from engines.spark.scratch import fetch, remove, store, validated
from engines.spark.session import spark_session
from engines.spark.tables import SparkState, SparkTables

log = logging.getLogger("pql")


class SparkEngine:
    """Features on Apache Spark with the local engine's kernel (see the module docstring)."""

    name = "spark"

    def __init__(self, settings: EngineConfig):
        self.settings = settings
        self._spark = None

    @property
    def spark(self) -> Any:
        """The SparkSession (started, or the active one taken, on first use)."""
        if self._spark is None:
            self._spark = spark_session(self.settings)
        return self._spark

    # -- loading --------------------------------------------------------------------------------

    def load_tables(self, data: DataConfig, instants: Sequence[object] = ()) -> tuple[SparkTables, LoadReport]:
        """Read and validate the source on Spark; ``instants``: as-ofs to plan at exactly (any instant;
        midnights are always exact)."""
        keys = {t: tuple(sorted({c for c in (id_column(data, t), data.column(t, "event"), data.column(t, "touch"))
                                 if c})) for t in TABLES}
        files = parquet_tables(data.dir, TABLES, keys) if data.dir and not self.settings.tables else None
        by_path = tuple(t for t in TABLES if t != "users") if files is not None else ()  # users: whole-table checks
        raw, description = read_tables(self.spark, data, self.settings, by_path)
        return load_source(self, raw, data, description, instants, files)

    def load_frames(self, frames: dict[str, pd.DataFrame | None], data: DataConfig | None = None,
                    instants: Sequence[object] = ()) -> tuple[SparkTables, LoadReport]:
        """The same as :meth:`load_tables` for pandas DataFrames (tests, notebooks): moved into Spark first."""
        raw = {t: (to_spark(self.spark, frames[t]) if frames.get(t) is not None else None) for t in TABLES}
        return load_source(self, raw, data or DataConfig(), "in-memory tables (Spark)", instants)

    # -- planning and building -------------------------------------------------------------------

    def plan_features(self, tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
        """The local planner on the driver, over the accounts and a compact log ranking the types as the
        buckets' reachable rows at ``as_of_max`` rank them (local tables: the local planner on them)."""
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
            return summed_reach([by_day[by_day["day"] < reach_day(t)]], "kind")
        # an instant inside a day: count it on the executors, once
        def count(bucket: Tables) -> pd.DataFrame | None:
            log_ = getattr(bucket, name)
            return reach_before(bucket, log_, t) if log_ is not None else None

        parts = [f for f in _run_buckets(state, count, every=True) if f is not None]
        out = summed_reach(parts or [pd.DataFrame({"kind": [], "n": [], "varies": []})], "kind")
        state.reach_at.setdefault(name, {})[t] = out
        return out

    def build_features(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
                       progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """The local builder on each bucket, on the executors; the frames ordered as the local engine's."""
        if not isinstance(tables, SparkTables):
            return build.build_features(tables, as_of, spec, progress=progress, max_age_us=max_age_us)
        return self._build(tables, as_of, spec, None, max_age_us)

    def build_training_table(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                             progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """The feature table plus ``label``, built per bucket as :meth:`build_features` builds it."""
        if not isinstance(tables, SparkTables):
            return build.build_training_table(tables, as_of, spec, horizon_days, progress=progress,
                                              max_age_us=max_age_us)
        return self._build(tables, as_of, spec, int(horizon_days), max_age_us)

    def map_accounts(self, tables: Tables, task: Callable[[Tables, bool], tuple[pd.DataFrame, ...]],
                     progress: bool = False) -> tuple[pd.DataFrame, ...]:
        """``task(bucket, False)`` on every bucket of accounts, on the executors (no progress bars there); each
        of its frames gathered from the buckets and ordered by as-of then account id, as the local engine's
        ``task(tables, progress)`` gives them. ``task`` travels to the executors: it must be picklable."""
        if not isinstance(tables, SparkTables):
            return task(tables, progress)
        results = self.map_buckets(tables, lambda bucket: task(bucket, False))
        if not results:  # no bucket holds an account: the driver's tables hold none either
            return task(tables, False)
        return tuple(collect_frames([r[i] for r in results]) for i in range(len(results[0])))

    def map_buckets(self, tables: SparkTables, task: Callable[[Tables], Any]) -> list[Any]:
        """``task(bucket_tables)`` on every non-empty bucket, on the executors; the (picklable) results."""
        return _run_buckets(tables.state, task)

    def _build(self, tables: SparkTables, as_of: Sequence[object], spec: FeatureSpec, horizon: int | None,
               max_age_us: int | None = None) -> pd.DataFrame:
        times = sorted({to_us(t) if not isinstance(t, (int, np.integer)) else int(t) for t in as_of})
        frames = self.map_buckets(tables, lambda bucket: features_of(bucket, times, spec, horizon, max_age_us))
        return collect_frames(frames, self.spark.sparkContext.defaultParallelism)


def _run_buckets(state: SparkState, task: Callable[[Tables], Any], every: bool = False) -> list[Any]:
    """``task(bucket_tables)`` on every bucket holding accounts (``every``: also on those without), on the
    executors: one task per bucket (the biggest first) reads its validated tables from the scratch folder and writes
    its (picklable) result there; the driver reads the results back, in bucket order, and deletes them."""
    buckets = state.loaded if every else state.filled
    if not buckets:
        return []
    folder, out = state.folder, f"out/{uuid.uuid4().hex}"

    def run(b: int) -> int:
        use_task_cores()
        store(folder, f"{out}/{b}.pkl", task(fetch(folder, validated(b))))
        return b

    # biggest buckets first (Spark hands out tasks in partition order): the last tasks of the pass are short ones,
    # so no core waits long on a straggler at its end
    largest_first = sorted(buckets, key=lambda b: -state.bucket_events.get(b, 0))
    try:
        context = state.engine.spark.sparkContext
        context.parallelize(largest_first, len(buckets)).map(run).collect()
        # read back in threads (the driver waits on its disk and copies, which let go of the GIL in part)
        with ThreadPoolExecutor(max(1, min(len(buckets), context.defaultParallelism))) as pool:
            return list(pool.map(lambda b: fetch(folder, f"{out}/{b}.pkl"), buckets))
    finally:
        remove(f"{folder}/{out}")
