"""What the Spark engine keeps: the driver's view of the tables and a handle on the validated buckets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from features.tables import Tables


@dataclass
class SparkState:
    """The validated buckets on Spark (one row per bucket: ``bucket``, ``tables``, a pickled
    ``features.tables.Tables``) and the planning statistics gathered while validating them."""

    validated: Any  # pyspark.sql.DataFrame
    buckets: int
    reach: dict[str, pd.DataFrame]  # per log: kind, day, n, varies (rows reachable from that day on)
    reach_at: dict[str, dict[int, pd.DataFrame]] = field(default_factory=dict)  # per log, per instant: kind, n, varies
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    has_user: bool = False
    has_quantity: bool = False
    has_touches: bool = False
    bucket_events: dict[int, int] = field(default_factory=dict)  # events read per bucket (how the work divides)
    engine: Any = None  # the SparkEngine that loaded them (engines.dispatch runs their features there)


@dataclass(frozen=True)
class SparkTables(Tables):
    """``Tables`` on the driver: every account (ids, fit attributes, created/converted instants), the
    conversions and where the data ends, but no events: those stay on Spark (``state``). Snapshots, labels
    and health read these as they read local tables; features go through the Spark engine."""

    state: SparkState | None = None
