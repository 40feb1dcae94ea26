"""What the Spark engine keeps: the driver's view of the tables and where the validated buckets wait."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd

from features.tables import Tables


@dataclass
class SparkState:
    """Where the validated buckets wait (a scratch folder every executor reaches, :mod:`engines.spark.scratch`)
    and the planning statistics gathered while validating them."""

    folder: str  # the load's scratch folder (a URI or an absolute path)
    buckets: int
    reach: dict[str, pd.DataFrame]  # per log: kind, day, n, varies (rows reachable from that day on)
    reach_at: dict[str, dict[int, pd.DataFrame]] = field(default_factory=dict)  # per log, per instant: kind, n, varies
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    has_user: bool = False
    has_quantity: bool = False
    has_touches: bool = False
    filled: tuple[int, ...] = ()  # the buckets that hold accounts
    loaded: tuple[int, ...] = ()  # the buckets that have validated tables (with or without accounts)
    bucket_events: dict[int, int] = field(default_factory=dict)  # events read per bucket (how the work divides)
    engine: Any = None  # the SparkEngine that loaded them (engines.dispatch runs their features there)

    def tables(self) -> Iterator[Tables]:
        """Each bucket's validated tables that holds accounts, one at a time, read on the driver (tests,
        notebooks)."""
        from engines.spark.scratch import fetch_all

        return fetch_all(self.folder, self.filled)


@dataclass(frozen=True)
class SparkTables(Tables):
    """``Tables`` on the driver: every account (ids, fit attributes, created/converted instants), the
    conversions and where the data ends, but no events: those stay on Spark (``state``). Snapshots, labels
    and health read these as they read local tables; features go through the Spark engine."""

    state: SparkState | None = None
