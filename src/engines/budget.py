"""The local engine's memory budget (``engine.memory_gb``) and what a source would cost to load whole.

The estimate is made before anything is read: the rows of each table come from the Parquet footers (or a
DuckDB count, which a DuckDB table answers from its metadata), and each row is priced at what the local
loader keeps of it plus what loading it costs on the way (see :data:`LOAD_BYTES_PER_EVENT`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from features.data.sources import Source
from features.data.sql import quote

GIB = 1 << 30
MARGIN_SHARE, MARGIN_MIN = 0.15, 1 * GIB  # the default budget leaves this much of the machine to others
# An event in the loaded log: account row (4 bytes), type code (2), instant (8), user hash (8) and quantity (8)
# when the table has them. Loading holds more per row on the way: the duplicate check's 16-byte words, the
# set-aside mask and DuckDB's batches; measured peaks were 43-46 bytes per event at 20 M and 100 M events with
# users and quantities (benchmarks/README.md), i.e. the kept bytes plus 16.
LOAD_OVERHEAD_PER_EVENT = 16
BYTES_PER_ACCOUNT = 400  # ids, instants and a dozen fit attributes, with pandas' overhead
# Users and attribute history rows, whole or in a bucket: 5 M users with a title and a role added ~400 MiB to the
# in-memory load's peak (~80 bytes a user, benchmarks/README.md), a bucket holds its raw rows beside them; a
# history row keeps 20 bytes of arrays and its value's text
BYTES_PER_ROW = {"users": 160, "account_attributes": 100}
BASELINE = 400 << 20  # the process itself: Python, numpy, pandas, pyarrow, DuckDB and the pipeline imported
BUCKET_SHARE = 0.5  # one bucket's load at most this share of the budget above the process: the rest holds the
# driver's tables and the bucket's features
# A bucket is loaded from its raw Arrow rows (its keys coded from their dictionaries, as the Parquet loader codes
# them), holding those rows beside the loader's columns: 16.7 M-event buckets of the 100 M world peaked 1.7-2.1 GiB
# above the process when DuckDB joined their ids, ~120 bytes per event with users and quantities, i.e. the loaded
# event's bytes plus ~90 (kept: the coded path peaked no higher, benchmarks/README.md).
BUCKET_OVERHEAD_PER_EVENT = 90
# Buckets are independent, so the bucketed path works on one per core: the loader and the builder let go of the
# GIL in numpy, pyarrow and DuckDB (building two buckets in two threads took 0.55x the time of one after the
# other). More threads than this add more small buckets than speed: each holds its share of the budget.
MAX_WORKERS = 8


@dataclass(frozen=True)
class SourceSize:
    """Rows per table of a source and what holding it whole in the local engine would cost."""

    rows: dict[str, int]
    bytes_per_event: int  # what an event costs while the whole source is loaded

    @property
    def bucket_bytes_per_event(self) -> int:
        """What an event costs while its bucket is loaded (see :data:`BUCKET_OVERHEAD_PER_EVENT`)."""
        return self.bytes_per_event - LOAD_OVERHEAD_PER_EVENT + BUCKET_OVERHEAD_PER_EVENT

    @property
    def events(self) -> int:
        """Rows of the logs (events and touches): what the local engine's memory grows with."""
        return self.rows.get("events", 0) + self.rows.get("touches", 0)

    @property
    def people_bytes(self) -> int:
        """What the users and the attribute history cost, whole or split over the buckets."""
        return sum(self.rows.get(t, 0) * b for t, b in BYTES_PER_ROW.items())

    @property
    def load_bytes(self) -> int:
        """Estimated peak of loading the source whole (and of building features from it, less their output)."""
        return (BASELINE + self.events * self.bytes_per_event + self.rows.get("accounts", 0) * BYTES_PER_ACCOUNT
                + self.people_bytes)


def machine_bytes() -> int:
    """The memory of this machine (or of this container, when a cgroup limits it lower)."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except ImportError:  # psutil is optional: /proc/meminfo says the same on Linux
        text = Path("/proc/meminfo").read_text()
        total = int(next(line.split()[1] for line in text.splitlines() if line.startswith("MemTotal:"))) * 1024
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.is_file():
        value = limit.read_text().strip()
        total = min(total, int(value)) if value.isdigit() else total
    return total


def budget_bytes(memory_gb: float | None) -> int:
    """``engine.memory_gb`` in bytes; null: the machine's memory minus a margin (15%, at least 1 GiB)."""
    if memory_gb is not None:
        return int(float(memory_gb) * GIB)
    total = machine_bytes()
    return max(total - max(int(total * MARGIN_SHARE), MARGIN_MIN), GIB // 2)


def table_rows(source: Source, table: str) -> int:
    """A table's rows: its Parquet files' footers, else DuckDB's count (metadata for a DuckDB table; a CSV
    file is scanned once)."""
    files = source.parquet.get(table)
    if files:
        return sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    return int(source.con.execute(f"SELECT count(*) FROM {quote('raw_' + table)}").fetchall()[0][0])


def source_size(source: Source, has_user: bool, has_quantity: bool) -> SourceSize:
    """The rows of the source's tables (after :func:`features.data.mapping.canonical_views`) and the bytes an
    event costs while loading."""
    rows = {t: table_rows(source, t) for t in ("accounts", "events", "touches", *BYTES_PER_ROW) if t in source.tables}
    kept = 4 + 2 + 8 + (8 if has_user else 0) + (8 if has_quantity else 0)
    return SourceSize(rows, kept + LOAD_OVERHEAD_PER_EVENT)


def workers() -> int:
    """How many buckets the local engine works on at once: the cores this process may use (its CPU affinity,
    which a container's CPU set limits, and a cgroup's CPU quota), at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, cpu_quota() or cores, MAX_WORKERS))


def cpu_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """The cores a cgroup (v2) quota allows this process, rounded up ("200000 100000": 2); None without one."""
    try:
        quota, period = path.read_text().split()[:2]
        return max(1, math.ceil(int(quota) / int(period))) if quota != "max" else None
    except (OSError, ValueError):
        return None


def bucket_count(size: SourceSize, budget: int, at_once: int = 1) -> int:
    """How many account buckets keep ``at_once`` buckets' loads within :data:`BUCKET_SHARE` of ``budget`` above
    the process (1: load whole when the source fits the budget)."""
    if size.load_bytes <= budget:
        return 1
    per_bucket = max((budget - BASELINE) * BUCKET_SHARE / max(1, at_once), 64 << 20)
    return max(2, math.ceil((size.events * size.bucket_bytes_per_event + size.people_bytes) / per_bucket))

