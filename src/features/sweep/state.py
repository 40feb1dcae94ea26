"""The state a pass carries: running totals per account, and the view of them one snapshot's families read.

:class:`Totals` are the running totals at one instant (or, as the difference of two, a window);
:class:`Snapshot` is what the feature families (:mod:`features.families`) compute a snapshot's values from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from features import naming as nm
from features.spec import FeatureSpec
from features.sweep.distinct import DistinctSweep
from features.tables import Tables
from features.windows import DAY_US, SegmentGrid


@dataclass(frozen=True)
class Totals:
    """Running totals per block row at one instant (or a window: the difference of two)."""

    counts: np.ndarray  # (event codes, rows) int32
    levels: list[np.ndarray]  # exact quantity levels, (rows, quantity columns) float64
    touches: np.ndarray | None  # (touch columns + 1, rows) int32
    days: np.ndarray  # distinct active days, int32

    @property
    def total(self) -> np.ndarray:
        """Events of every type, per row (int64)."""
        return self.counts.sum(axis=0, dtype=np.int64)

    def compact_copy(self) -> "Totals":
        """A copy to subtract later, its counts in 1 or 2 bytes when they fit: some twenty saved totals
        are alive at once for a 90-day window over weekly snapshots (~40 % of them at 100 M events).
        Subtracting an unsigned 8/16-bit count from an int32 one stays int32: windows keep their type."""
        return Totals(narrow(self.counts), [x.copy() for x in self.levels],
                      None if self.touches is None else narrow(self.touches), narrow(self.days))

    def take(self, r: np.ndarray) -> "Totals":
        """The totals of some rows."""
        return Totals(self.counts[:, r], [x[r] for x in self.levels],
                      None if self.touches is None else self.touches[:, r], self.days[r])

    def minus(self, earlier: "Totals") -> "Totals":
        """The window between ``earlier`` and these totals (both for the same rows)."""
        return Totals(self.counts - earlier.counts, [x - y for x, y in zip(self.levels, earlier.levels)],
                      None if self.touches is None else self.touches - earlier.touches, self.days - earlier.days)


def narrow(counts: np.ndarray) -> np.ndarray:
    """A copy of non-negative int32 counts in the smallest unsigned type of at most 16 bits that holds them.

    >>> narrow(np.array([0, 255], np.int32)).dtype, narrow(np.array([256], np.int32)).dtype
    (dtype('uint8'), dtype('uint16'))
    """
    top = int(counts.max()) if counts.size else 0
    return counts.astype(np.uint8 if top <= 0xFF else np.uint16 if top <= 0xFFFF else counts.dtype)


@dataclass
class Snapshot:
    """One snapshot of a pass: its eligible accounts and the pass's running state at its as-of ``t``.

    ``accounts`` are the eligible accounts' numbers (rows of ``tables.accounts``) and ``rows`` their rows in
    the pass's block, both sorted. :meth:`window` gives the totals of ``[t - days, t)`` for those rows: the
    running totals at ``t`` minus those saved at the window's start.
    """

    spec: FeatureSpec
    tables: Tables
    grid: SegmentGrid
    accounts: np.ndarray
    rows: np.ndarray
    t_day: int  # the day bucket of t
    now: Totals  # the running totals at t, for ``rows``
    saved: dict[int, Totals]  # totals saved at window starts (by edge index), for every row of the block
    whole: bool  # ``rows`` are every row of the block, in order: the saved totals are read as they are
    last_day: np.ndarray  # per block row, the last active day bucket so far (-10**9: none)
    per_kind: bool  # counts per event kind (else one code per event-type column, the other kinds share one)
    code_of_column: list[int | None]  # per event-type column, the code of its counts (None: never occurs)
    quantity: bool  # the totals hold the exact levels of the quantity columns
    quantity_rest: np.ndarray | None  # what no exact level could hold, per (block row, segment, column)
    users: DistinctSweep | None  # distinct users (the events name users)
    breadth: DistinctSweep | None  # distinct event types, when the counts are not per kind
    first_key: dict[str, np.ndarray]  # per key event, each account's first instant of it (any time)
    totals: dict[int | None, np.ndarray] = field(default_factory=dict)  # events per window, once computed
    people: Any = None  # the users and buyers' events (features.families.people.People; None: no people columns)

    @property
    def t_us(self) -> int:
        """The as-of instant."""
        return self.grid.anchor_us + self.t_day * DAY_US

    @cached_property
    def hi(self) -> int:
        """The edge index of ``t``: prefix sums up to it cover the days before ``t``."""
        return int(self.grid.edge(self.t_day))

    def start(self, days: int | None) -> int | None:
        """The edge index of a window's start ``t - days`` (None: all history)."""
        return None if days is None else int(self.grid.edge(self.t_day - days))

    def window(self, days: int | None) -> Totals:
        """The totals of ``[t - days, t)`` (None: everything before ``t``) for ``rows``."""
        if days is None:
            return self.now
        start = self.saved[self.start(days)]
        return self.now.minus(start if self.whole else start.take(self.rows))

    def events_in(self, days: int) -> np.ndarray:
        """Events of every type in ``[t - days, t)`` (as computed for its column, else from the totals)."""
        return self.totals[days] if days in self.totals else self.window(days).total

    @cached_property
    def created(self) -> np.ndarray:
        """The accounts' signup instants."""
        return self.tables.created_us[self.accounts]

    @cached_property
    def event_slugs(self) -> list[str]:
        """The name part of each event-type column (``spec.event_types``' slugs)."""
        return nm.unique_slugs(self.spec.event_types)
