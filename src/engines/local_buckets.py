"""The local engine within a memory budget: a source too big for it is processed in buckets of accounts.

:func:`load` estimates what loading the source whole would cost (:mod:`engines.budget`). When that fits
``engine.memory_gb``, it loads it whole (``features.data.load``). Otherwise it splits the source into account
buckets and validates each with the local loader (:mod:`engines.local_split`); the driver keeps the accounts,
conversions, the summed load report and the planning statistics, and each bucket's validated tables wait on
disk. Planning, features, labels and serving then run the local kernel on one bucket at a time and gather the
frames in the in-memory path's order (by as-of, then account id), so every result is the same.
"""
from __future__ import annotations

import ctypes
import logging
import pickle
import shutil
import tempfile
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from features.config import DataConfig, FeatureConfig
from features.data import load as loader
from features.data.mapping import canonical_views, mapped
from features.plan import plan_features
from features.snapshots import reach_day
from features.spec import FeatureSpec
from features.tables import LoadReport, Tables
from features.windows import DAY_US, to_us

from engines import budget, local_split
from engines.buckets import collect_frames, names_of, sum_reach, sum_reach_at, summed_reach
from engines.bucket_kernel import features_of, reach_before
from engines.spark.plan import planning_tables

log = logging.getLogger("pql")


@dataclass
class BucketState:
    """Where the validated buckets wait (``folder/validated/<b>.pkl``) and the planning statistics gathered
    while validating them (what :func:`engines.spark.plan.planning_tables` reads)."""

    folder: Path
    buckets: int
    reach: dict[str, pd.DataFrame]
    reach_at: dict[str, dict[int, pd.DataFrame]] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    has_user: bool = False
    has_quantity: bool = False
    has_touches: bool = False
    filled: tuple[int, ...] = ()  # the buckets that hold accounts
    engine: Any = None  # the LocalEngine that loaded them (engines.dispatch runs their features there)

    def tables(self) -> Iterator[Tables]:
        """Each bucket's validated tables, one at a time (read from disk)."""
        for b in self.filled:
            yield self.bucket(b)

    def bucket(self, b: int) -> Tables:
        """Bucket ``b``'s validated tables (read from disk)."""
        with open(self.folder / "validated" / f"{b}.pkl", "rb") as handle:
            return pickle.load(handle)


@dataclass(frozen=True)
class BucketedTables(Tables):
    """``Tables`` on the driver: every account and conversion, where the data ends, but no events: those wait
    per bucket on disk (``state``). Snapshots, labels and health read these as they read whole tables."""

    state: BucketState | None = None

def load(engine: Any, data: DataConfig, instants: Sequence[object] = ()) -> tuple[Tables, LoadReport]:
    """The source read whole when it fits ``engine.memory_gb``, else in buckets of accounts (module docstring)."""
    source = loader.open_source(data)
    try:
        if data.export:  # an export derives its tables from the events: loaded whole
            return loader.load_source(source, data)
        fit = canonical_views(source, data).get("accounts", [])
        has = source.columns("events")
        size = budget.source_size(source, mapped(data, "events", "user_id") in has,
                                  mapped(data, "events", "quantity") in has)
        limit = budget.budget_bytes(engine.settings.memory_gb)
        n = budget.bucket_count(size, limit, budget.workers())
        n = max(int(engine.settings.partitions or n), 2) if n > 1 else 1  # engine.partitions: the count, when set
        log.debug("local engine: %s log rows, estimated %.1f GiB whole, budget %.1f GiB: %d bucket(s)",
                  f"{size.events:,}", size.load_bytes / budget.GIB, limit / budget.GIB, n)
        if n == 1:
            return loader.load_source(source, data)
        return _load_buckets(engine, source, data, fit, n, [to_us(t) for t in instants])
    finally:
        source.con.close()


def _load_buckets(engine: Any, source: Any, data: DataConfig, fit: list[str], n: int, instants: list[int]
                  ) -> tuple[BucketedTables, LoadReport]:
    """Split, validate per bucket, assemble on the driver (see :mod:`engines.local_split`)."""
    folder = Path(tempfile.mkdtemp(prefix="pql-buckets-"))
    started = time.perf_counter()
    fix_mmap_threshold()
    try:
        parts = local_split.split(source, data, n, folder, budget.workers())
        split_s = time.perf_counter() - started
        metas = local_split.validate_buckets(source, data, parts, instants, release_memory, budget.workers())
        tables, report = local_split.assembled(source, data, fit, metas)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.debug("local engine: %d buckets split in %.1f s, validated in %.1f s", n, split_s,
              time.perf_counter() - started - split_s)
    state = BucketState(folder=folder, buckets=n, reach=sum_reach(metas), reach_at=sum_reach_at(metas),
                        names=names_of(metas), has_user=any(m.get("has_user") for _, m in metas),
                        has_quantity=any(m.get("has_quantity") for _, m in metas),
                        has_touches="touches" in parts.schemas,
                        filled=tuple(b for b, m in metas if m.get("n_accounts")), engine=engine)
    weakref.finalize(state, shutil.rmtree, str(folder), True)  # the spill folder goes with the tables
    fields = {f: getattr(tables, f) for f in tables.__dataclass_fields__}
    return BucketedTables(**fields, state=state), report


def plan(tables: BucketedTables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
    """``features.plan.plan_features`` over the driver's accounts and a compact log ranking the types as the
    buckets' reachable rows at ``as_of_max`` rank them (the Spark engine's planning)."""
    state = tables.state
    t = to_us(as_of_max) if not isinstance(as_of_max, (int, np.integer)) else int(as_of_max)
    reach = {name: _reach_at(state, name, t) for name in ("events", "touches") if name in state.names}
    return plan_features(planning_tables(tables, state, reach, t), t, config)


def _reach_at(state: BucketState, name: str, t: int) -> pd.DataFrame:
    """Per kind: rows that can reach a feature at some as-of <= t, and whether their quantity varies."""
    if t in state.reach_at.get(name, {}):
        return state.reach_at[name][t]
    if t % DAY_US == 0:
        by_day = state.reach.get(name, pd.DataFrame({"kind": [], "day": [], "n": [], "varies": []}))
        return summed_reach([by_day[by_day["day"] < reach_day(t)]], "kind")
    parts = [reach_before(bucket, getattr(bucket, name), t) for bucket in state.tables()
             if getattr(bucket, name) is not None]
    out = summed_reach(parts or [pd.DataFrame({"kind": [], "n": [], "varies": []})], "kind")
    state.reach_at.setdefault(name, {})[t] = out
    return out


def build(tables: BucketedTables, as_of: Sequence[object], spec: FeatureSpec, horizon: int | None,
          max_age_us: int | None = None) -> pd.DataFrame:
    """The local builder on each bucket, a bucket per worker at once (:func:`engines.budget.workers`); the frames
    in the in-memory path's order (by as-of, then account id); ``max_age_us``: first looks only.

    Each bucket's frame waits on disk until all are built: then every column is allocated once at its full length
    and filled bucket by bucket, so the gathered table is never held twice (concatenating and sorting would hold
    it three times over)."""
    times = sorted({to_us(t) if not isinstance(t, (int, np.integer)) else int(t) for t in as_of})
    state = tables.state
    folder = Path(tempfile.mkdtemp(prefix="frames-", dir=state.folder))
    try:
        ids = pd.Index(tables.accounts["account_id"])
        ids.get_indexer(ids[:1])  # its hash table built once, here, not by two threads at once

        def one(i: int) -> tuple[np.ndarray, np.ndarray]:
            frame = features_of(state.bucket(state.filled[i]), times, spec, horizon, max_age_us)
            with open(folder / f"{i}.pkl", "wb") as handle:
                pickle.dump(frame, handle, protocol=pickle.HIGHEST_PROTOCOL)
            keys = frame["as_of"].to_numpy().astype("datetime64[us]").view(np.int64), ids.get_indexer(
                frame["account_id"])
            del frame
            release_memory()
            return keys

        with ThreadPoolExecutor(budget.workers()) as pool:
            times_us, rows = zip(*pool.map(one, range(len(state.filled)))) if state.filled else ((), ())
        parts = [folder / f"{i}.pkl" for i in range(len(state.filled))]
        sizes = [len(t) for t in times_us]
        order = np.lexsort((np.concatenate(rows or [np.empty(0, np.int64)]),
                            np.concatenate(times_us or [np.empty(0, np.int64)])))  # by as-of, then account row
        del ids, rows, times_us
        return _gathered(parts, sizes, order)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def release_memory() -> None:
    """Give freed memory back to the OS between buckets: Arrow's pool and glibc's heap keep freed blocks
    resident (the next bucket would then count on top of the last one's high-water mark)."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc (TypeError: Windows has no CDLL(None))
        pass


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 1 << 20


def fix_mmap_threshold() -> None:
    """Have glibc map every allocation of 1 MiB or more apart, given back whole when freed. By default the
    threshold rises to the largest block freed (up to 32 MiB), so a bucket's columns of a few MiB were carved
    from the heaps of the loader's threads and stayed resident, fragmented, after the bucket: the process grew
    by ~15 bytes an event with every bucket (20 M events in 6 buckets: 926 MiB peak, 653 MiB with this)."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError, TypeError):  # not glibc
        pass


def _read(path: Path) -> pd.DataFrame:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _gathered(parts: list[Path], sizes: list[int], order: np.ndarray) -> pd.DataFrame:
    """The buckets' frames (pickled at ``parts``, ``sizes`` rows each) as one, row ``p`` being row ``order[p]`` of
    the frames end to end; columns of numpy types are filled in place, a bucket per worker at once (most of the
    cost is reading the frames and the kernel mapping the new columns' pages as they are first written), the
    others concatenated."""
    first = _read(parts[0]) if parts else pd.DataFrame()
    if not parts or sum(sizes) == sizes[0]:  # the first frame holds every row (or none does): it is the table
        return collect_frames([first])
    index = np.int32 if len(order) < np.iinfo(np.int32).max else np.int64
    dest = np.empty(len(order), dtype=index)
    dest[order] = np.arange(len(order), dtype=index)
    dtypes = first.dtypes
    plain = [c for c in first.columns if isinstance(dtypes[c], np.dtype)]
    filled = {c: np.empty(len(order), dtype=dtypes[c]) for c in plain}
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def fill(i: int) -> dict[str, pd.Series] | None:
        frame = first if i == 0 else _read(parts[i])
        if not frame.dtypes.equals(dtypes):  # a bucket's types differ (e.g. a column without values)
            return None
        rows = dest[starts[i]:starts[i] + len(frame)].astype(np.intp)  # disjoint rows: threads never meet
        for column in plain:
            filled[column][rows] = frame[column].to_numpy()
        rest = {c: frame[c] for c in frame.columns if c not in filled}
        del frame
        release_memory()
        return rest

    with ThreadPoolExecutor(budget.workers()) as pool:
        pieces = list(pool.map(fill, range(len(parts))))
    del first, dest
    if any(p is None for p in pieces):  # pandas' rules for types that differ: concatenated whole
        del filled, pieces  # (what was filled so far goes first)
        return collect_frames([_read(p) for p in parts])
    for column in [c for c in dtypes.index if c not in filled]:
        series = [p.pop(column) for p in pieces]  # each column's pieces go as soon as it is whole
        filled[column] = pd.concat(series, ignore_index=True).take(order).reset_index(drop=True)
        del series
    return pd.DataFrame({c: filled[c] for c in dtypes.index}, copy=False)


def map_accounts(tables: BucketedTables, task: Callable[[Tables, bool], tuple[pd.DataFrame, ...]]
                 ) -> tuple[pd.DataFrame, ...]:
    """``task(bucket, False)`` on every bucket holding accounts; each of its frames gathered and ordered by
    as-of then account id, as ``task(tables, progress)`` on the whole tables gives them."""
    results = [task(bucket, False) for bucket in tables.state.tables()]
    if not results:  # no bucket holds an account: the driver's tables hold none either
        return task(tables, False)
    return tuple(collect_frames([r[i] for r in results]) for i in range(len(results[0])))
