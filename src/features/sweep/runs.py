"""Events in day order: sorting by day, cutting into segments, and adding them into running totals.

The pass (:mod:`features.sweep.block`) takes the events segment by segment; each segment's columns are
arrays of their own, released once added, so the part of the history a pass has gone through costs no memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` in numpy 2.4 hashes and was 30x slower than a sort here)."""
    keys = np.sort(keys)  # a copy: callers' arrays stay as they are
    if len(keys) == 0:
        return keys
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return np.compress(keep, keys)


def ascending(values: np.ndarray) -> bool:
    """Whether values never decrease (an event log written in time order: no sort needed)."""
    return len(values) < 2 or bool(np.all(values[1:] >= values[:-1]))


@dataclass(frozen=True)
class DayRuns:
    """Events of a block in day order: ``order`` (a stable permutation) and the runs of each day.

    Events of day ``d`` are ``order[starts[d - first]:starts[d - first + 1]]``. Day buckets span a few
    hundred to a few thousand values, so a 16-bit radix sort orders tens of millions of events in a
    fraction of a second; a wider span (centuries of data) falls back to a comparison sort. Events
    already in day order (a log written in time order) are not sorted: ``order`` is then None, the
    identity, and :meth:`arrange` slices instead of gathering.

    >>> runs = DayRuns.of(np.array([5, 3, 5, 4]))
    >>> runs.order.tolist(), runs.first, runs.starts.tolist()
    ([1, 3, 0, 2], 3, [0, 1, 2, 4])
    >>> runs = DayRuns.of(np.array([3, 4, 5, 5]))
    >>> runs.order, runs.first, runs.starts.tolist(), runs.arrange(np.array([7, 8, 9, 10]), 1, 3).tolist()
    (None, 3, [0, 1, 2, 4], [8, 9])
    """

    order: np.ndarray | None  # None: the identity (the events were in day order already)
    starts: np.ndarray  # len = days + 1
    first: int

    @classmethod
    def of(cls, day: np.ndarray) -> "DayRuns":
        """The runs of events' day buckets (given in the events' order)."""
        if len(day) == 0:
            return cls(np.empty(0, np.int64), np.zeros(1, np.int64), 0)
        if ascending(day):
            first = int(day[0])
            # the runs are where each day begins: a search per day instead of a count per event
            starts = np.searchsorted(day, np.arange(first, int(day[-1]) + 2, dtype=day.dtype)).astype(np.int64)
            return cls(None, starts, first)
        first = int(day.min())
        rel = day - first
        span = int(rel.max()) + 1
        order = np.argsort(rel.astype(np.uint16) if span <= 1 << 16 else rel, kind="stable")
        starts = np.zeros(span + 1, dtype=np.int64)
        np.cumsum(np.bincount(rel, minlength=span), out=starts[1:])
        return cls(order, starts, first)

    def arrange(self, column: np.ndarray, a: int = 0, b: int | None = None) -> np.ndarray:
        """Positions ``a:b`` (in day order) of a column given in the events' order, as a new array."""
        if self.order is None:
            return column[a:b].copy()
        return column[self.order[a:b]]

    def runs_only(self) -> "DayRuns":
        """The same runs without the permutation (once the columns are in day order, it is dead weight)."""
        return DayRuns(np.empty(0, np.int64), self.starts, self.first)

    def span(self, lo_day: int, hi_day: int) -> tuple[int, int]:
        """Positions (in ``order``) of the events of days ``lo_day <= d < hi_day``."""
        last = len(self.starts) - 1
        lo = min(max(lo_day - self.first, 0), last)
        hi = min(max(hi_day - self.first, 0), last)
        return int(self.starts[lo]), int(self.starts[hi])


class SegmentParts:
    """Columns of events in day order, cut at the grid's segment edges into arrays of their own.

    The sweep takes segment ``s`` with :meth:`pop` and the arrays are released once it is added: the
    events a sweep has passed cost no memory, so when the output columns are allocated (at the first
    snapshot) the history before it is already gone. Positions stay those of ``runs`` (day order):
    part ``s`` starts at ``bases[s]``.
    """

    def __init__(self, runs: DayRuns, edges: np.ndarray, columns: Sequence[np.ndarray]) -> None:
        spans = [runs.span(-2**62 if s == 0 else int(edges[s - 1]), int(edges[s])) for s in range(len(edges))]
        self.bases = [a for a, _ in spans]
        self.parts: list[tuple[np.ndarray, ...] | None] = [
            tuple(runs.arrange(col, a, b) for col in columns) for a, b in spans]
        self.runs = runs.runs_only()
        self.released = 0  # bytes of the parts taken so far (freed once the caller drops them)

    def pop(self, s: int) -> tuple[np.ndarray, ...]:
        """The columns of segment ``s`` (released here: each segment is taken once)."""
        part, self.parts[s] = self.parts[s], None
        if part is None:
            raise RuntimeError(f"segment {s} was already taken")
        self.released += sum(col.nbytes for col in part)
        return part

    def day(self, part: np.ndarray, s: int, d: int) -> np.ndarray:
        """The rows of day ``d`` in a column of segment ``s``'s part."""
        a, b = self.runs.span(d, d + 1)
        return part[a - self.bases[s]:b - self.bases[s]]


def add_counts(total: np.ndarray, row: np.ndarray, code: np.ndarray, weights: np.ndarray | None = None) -> None:
    """``total[row, code] += 1`` (or ``+= weight``) for each event, in place; ``total`` is (rows, codes).

    A bincount, not ``np.add.at``: it is an order of magnitude faster and, for integer counts and the
    exact levels of :class:`~features.sweep.prefix.ExactSums`, gives the same totals whatever the order of the events. Unless
    the events are few for the cells (a short segment of a million accounts): integer counts are then
    added in place, which costs less than a bincount's zeroing and addition of every cell.
    """
    if len(row) == 0:
        return
    n_rows, n_codes = total.shape
    flat = row.astype(np.int64) * n_codes + code
    if weights is None and len(flat) * 8 < total.size:
        # on the flat view with a value of its own type: numpy's fast path for ufunc.at
        np.add.at(total.reshape(-1), flat, np.ones((), dtype=total.dtype))
        return
    counts = np.bincount(flat, weights=weights, minlength=n_rows * n_codes).reshape(total.shape)
    np.add(total, counts, out=total, casting="unsafe")

