"""Time, named once.

* A feature window of ``w`` days at as-of ``t`` is the half-open interval ``[t - w days, t)``:
  the instant ``t`` itself is never inside a feature.
* Instants are integers: microseconds since the Unix epoch, UTC (``int64``).
* Day buckets are 24-hour periods aligned on the as-of instants' time of day, so that every
  window edge ``t - w days`` falls exactly on a bucket edge, whatever the time of day of ``t``.
* Many snapshots share one pass over the events: the window edges of every snapshot cut the
  time line into *segments*; events are counted once per (account, segment) and every window
  of every snapshot is a difference of two prefix sums over segments.

>>> grid = SegmentGrid.build(np.array([to_us("2024-01-08"), to_us("2024-01-15")]), spans=[7])
>>> grid.snapshot_days.tolist()   # day buckets counted from the first as-of
[0, 7]
>>> grid.edges.tolist()           # window edges t - 7d and t of both snapshots
[-7, 0, 7]
>>> grid.segment_of_day(np.array([-8, -7, 0, 6, 7])).tolist()   # day 7 is the last as-of: never read
[0, 1, 2, 2, -1]
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

_CHUNK = 1 << 22  # instants per step of day_of (32 MiB of int64 temporaries)

DAY_US = 86_400 * 1_000_000


def to_timestamp(value: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """An instant as a naive UTC ``pd.Timestamp``: ISO text or datetime; aware values are
    converted to UTC; ``"now"`` is the current instant (to the second)."""
    if isinstance(value, str) and value.strip().lower() == "now":
        return pd.Timestamp.now(tz="UTC").floor("s").tz_localize(None)
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("us")


def to_us(value: str | date | datetime | pd.Timestamp) -> int:
    """Microseconds since the epoch (UTC) of an instant given as text or datetime."""
    return int(to_timestamp(value).value // 1_000)


def instant_us(value: object) -> int:
    """An instant given as epoch microseconds (kept as they are), text or datetime, in microseconds.

    >>> instant_us(86_400_000_000), instant_us("1970-01-02")
    (86400000000, 86400000000)
    """
    return int(value) if isinstance(value, (int, np.integer)) else to_us(value)


def from_us(values: np.ndarray | Sequence[int]) -> pd.DatetimeIndex:
    """Naive-UTC datetimes of epoch-microsecond integers."""
    return pd.DatetimeIndex(np.asarray(values, dtype="int64").astype("datetime64[us]"))


def window_suffix(days: int | None) -> str:
    """The name part of a window: ``30`` -> ``"30d"``; ``None`` (all history before t) -> ``"all"``."""
    return "all" if days is None else f"{int(days)}d"


@dataclass(frozen=True)
class SegmentGrid:
    """Day buckets and window-edge segments for snapshots that share a time of day.

    ``anchor_us`` is the start of day bucket 0; ``snapshot_days[i]`` is the bucket index of the
    i-th as-of instant (so ``as_of[i] == anchor_us + snapshot_days[i] * DAY_US``). ``edges`` are
    the sorted bucket indices where some window starts or ends. Segment 0 holds the days before
    ``edges[0]``; segment ``j`` holds ``[edges[j-1], edges[j])``. Days at or after the last as-of
    belong to no segment: nothing after the newest snapshot is ever read.
    """

    anchor_us: int
    snapshot_days: np.ndarray
    edges: np.ndarray

    @classmethod
    def build(cls, as_of_us: np.ndarray, spans: Iterable[int]) -> "SegmentGrid":
        """Grid for as-of instants (same time of day) and window lengths in days."""
        as_of_us = np.asarray(as_of_us, dtype="int64")
        offsets = np.unique(as_of_us % DAY_US)
        if len(offsets) != 1:
            raise ValueError("as-of instants of one grid must share their time of day")
        anchor = int(as_of_us.min())
        days = (as_of_us - anchor) // DAY_US
        spans = sorted({0, *map(int, spans)})
        edges = np.unique(np.concatenate([days - s for s in spans]))
        return cls(anchor_us=anchor, snapshot_days=days, edges=edges)

    @property
    def n_segments(self) -> int:
        """How many segments the edges cut: one per edge (days at or after the last belong to none)."""
        return len(self.edges)

    def day_of(self, ts_us: np.ndarray) -> np.ndarray:
        """Day bucket index of each instant (floor division: bucket d is [anchor + d, anchor + d + 1 day)),
        as int32 (int64 microseconds span +-107 M days), computed a few million instants at a time so that
        no 8-byte temporary of the whole column is made (the build's peak at 100 M events)."""
        ts_us = np.asarray(ts_us, dtype="int64")
        out = np.empty(len(ts_us), dtype=np.int32)
        for i in range(0, len(ts_us), _CHUNK):
            part = ts_us[i:i + _CHUNK] - self.anchor_us
            part //= DAY_US
            out[i:i + _CHUNK] = part
        return out

    def segment_of_day(self, day: np.ndarray) -> np.ndarray:
        """Segment index of each day bucket; -1 for days at or after the last as-of."""
        seg = np.searchsorted(self.edges, day, side="right")
        return np.where(day >= self.edges[-1], -1, seg)

    def first_day(self, day: np.ndarray) -> int:
        """The day from which :meth:`segment_table` is indexed: the earliest of ``day`` (or just before the first edge)."""
        return min(int(day.min()), int(self.edges[0]) - 1) if len(day) else int(self.edges[0]) - 1

    def segment_table(self, first_day: int | None = None) -> np.ndarray:
        """``segment_of_day`` of every day from ``first_day`` (default: the day before the first edge) to
        the last as-of, as an int32 lookup table: indexing it is much cheaper than a search per event.

        >>> grid = SegmentGrid.build(np.array([to_us("2024-01-08"), to_us("2024-01-15")]), spans=[7])
        >>> grid.segment_table(-9).tolist()    # days -9 .. 7
        [0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, -1]
        """
        first = int(self.edges[0]) - 1 if first_day is None else int(first_day)
        return self.segment_of_day(np.arange(first, int(self.edges[-1]) + 1)).astype(np.int32)

    def edge(self, day: int | np.ndarray) -> np.ndarray:
        """Index in ``edges`` of a window edge: the prefix sum up to this index covers days < ``day``."""
        idx = np.searchsorted(self.edges, day)
        assert np.all(self.edges[idx] == day), "window edge is not on the grid"
        return idx
