"""Prefix sums over segments: counts, the active days, and exact window sums of float quantities.

A *prefix* array ``P[row, i]`` holds the total over segments ``0..i``, so a window ``[t - w, t)`` is
``P[:, edge(t)] - P[:, edge(t - w)]`` (see :mod:`features.sweep`). Counts are integers, so these differences
are exact; float sums go through :class:`ExactSums`, whose prefix sums are exact too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.sweep.runs import sorted_unique
from features.windows import SegmentGrid


def prefix_counts(row: np.ndarray, seg: np.ndarray, code: np.ndarray, shape: tuple[int, int, int],
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Prefix sums over segments of rows counted per (row, segment, code): shape (rows, segments, codes).

    >>> p = prefix_counts(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([0, 0, 1]), (2, 2, 2))
    >>> p[0].tolist(), p[1].tolist()
    ([[1, 0], [2, 0]], [[0, 0], [0, 1]])
    """
    n_rows, n_segs, n_codes = shape
    flat = (row.astype(np.int64) * n_segs + seg) * n_codes + code
    counts = np.bincount(flat, weights=weights, minlength=n_rows * n_segs * n_codes)
    dtype = np.float64 if weights is not None else np.int32
    return np.cumsum(counts.reshape(shape), axis=1, dtype=dtype)


def window(prefix: np.ndarray, grid: SegmentGrid, snapshot: int, days: int | None, rows: np.ndarray) -> np.ndarray:
    """Totals in ``[t - days, t)`` (``days=None``: everything before ``t``) for some rows of a prefix array."""
    t_day = grid.snapshot_days[snapshot]
    hi = prefix[rows, grid.edge(t_day)]
    return hi if days is None else hi - prefix[rows, grid.edge(t_day - days)]


def active_day_prefix(row: np.ndarray, day: np.ndarray, grid: SegmentGrid, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: prefix counts of distinct active days, and prefix maximum of the last active day.

    Returns ``(days_prefix, last_day_prefix)`` of shape (rows, segments); the last-day prefix is -1e9
    where a row had no activity yet.
    """
    n_segs = grid.n_segments
    span = int(day.max() - day.min() + 1) if len(day) else 1
    base = int(day.min()) if len(day) else 0
    pairs = sorted_unique(row.astype(np.int64) * span + (day - base))
    prow, pday = pairs // span, pairs % span + base
    pseg = grid.segment_of_day(pday)
    cell = prow * n_segs + pseg
    days_prefix = np.cumsum(np.bincount(cell, minlength=n_rows * n_segs).reshape(n_rows, n_segs), axis=1,
                            dtype=np.int32)
    last = np.full(n_rows * n_segs, -10**9, dtype=np.int64)
    # pairs are sorted by (row, day) and segments grow with days: the last pair of a cell has its latest day
    ends = np.flatnonzero(np.append(cell[1:] != cell[:-1], True)) if len(cell) else np.empty(0, np.int64)
    last[cell[ends]] = pday[ends]
    return days_prefix, np.maximum.accumulate(last.reshape(n_rows, n_segs), axis=1)


_MAX_EXACT_LEVELS = 8  # error-free levels before a last, naively summed remainder (never reached by real data)


def _exponent(x: float) -> int:
    """The smallest ``e`` with ``|x| <= 2**e`` (``x > 0``)."""
    mantissa, e = np.frexp(x)
    return int(e) - (1 if mantissa == 0.5 else 0)


@dataclass(frozen=True)
class ExactSums:
    """Window sums of float weights per (row, code) that are exact whatever other rows hold.

    Plain prefix sums of floats lose a small recent value under a large old one (``1e17 + 3 - 1e17``
    is 0, not 3). Here every weight is split, error-free, into *levels*: level ``k`` holds the weight
    rounded to a multiple of ``2**e_k`` (``e_k`` chosen so that every partial sum of the whole column,
    at most ``2**53`` units, is an integer number of units: every sum, prefix sum and prefix-sum
    difference of a level is exact), and the next level holds what is left over (smaller by a factor
    ~``2**52 / rows``). Integer quantities need one level; any finite doubles need a few. A window is
    the sum of its exact level windows, added with Neumaier compensation: the result is the exact
    window total up to the last bits of its own magnitude, however large or far away other values are.

    >>> row, seg, code = np.array([0, 0, 0]), np.array([0, 1, 1]), np.zeros(3, np.int64)
    >>> sums = ExactSums.build(row, seg, code, (1, 2, 1), np.array([1e17, 3.0, 1e-3]))
    >>> sums.prefix_window(np.array([0]), 1, 0)[:, 0].tolist()   # segment 1 only: 3 + 0.001
    [3.001]
    """

    levels: tuple[np.ndarray, ...]  # prefix arrays (rows, segments, codes), exact
    rest: np.ndarray | None  # segment totals (not prefixed) of what no exact level could hold

    @staticmethod
    def split(weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """The error-free levels of some weights (each a multiple of its own unit), and what is left
        when no exact level can hold the rest (None: nothing is left, as for any real data)."""
        left = np.array(weights, dtype=np.float64)  # a copy: worked on in place
        # Every partial sum stays within 2**53 units when units >= n * max|w| / 2**52.
        n_bits = max(len(left), 1).bit_length()
        levels: list[np.ndarray] = []
        while len(left) and len(levels) < _MAX_EXACT_LEVELS:
            top = max(float(left.max()), -float(left.min()))
            if not np.isfinite(top):
                raise ValueError("weights must be finite (validation sets non-finite quantities aside)")
            if top == 0.0:
                break
            e = _exponent(top) + n_bits - 52
            if e < -1020 or e > 960:  # subnormal or near-overflow territory: the rest is summed plainly
                break
            # (w + sigma) - sigma rounds w to a multiple of 2**e, error-free: |w| <= 2**(e + 51) puts
            # w + sigma in [2**(e+52), 2**(e+53)), where the spacing of doubles is 2**e.
            sigma = np.ldexp(1.5, e + 52)
            high = np.add(left, sigma)
            np.subtract(high, sigma, out=high)
            levels.append(high)
            np.subtract(left, high, out=left)  # exact: what the level could not hold
        rest = left if len(left) and left.any() else None
        return levels, rest

    @classmethod
    def build(cls, row: np.ndarray, seg: np.ndarray, code: np.ndarray, shape: tuple[int, int, int],
              weights: np.ndarray) -> "ExactSums":
        """From events' rows, segments and codes (aligned arrays), ``shape`` (rows, segments, codes), weights."""
        n_rows, n_segs, n_codes = shape
        flat = (row.astype(np.int64) * n_segs + seg) * n_codes + code
        size = n_rows * n_segs * n_codes
        parts, left = cls.split(weights)
        levels = [np.cumsum(np.bincount(flat, weights=w, minlength=size).reshape(shape), axis=1) for w in parts]
        rest = None if left is None else np.bincount(flat, weights=left, minlength=size).reshape(shape)
        if not levels:
            levels.append(np.zeros(shape, dtype=np.float64))
        return cls(tuple(levels), rest)

    @staticmethod
    def combine(parts: list[np.ndarray]) -> np.ndarray:
        """The sum of exact level windows (and a rest), added with Neumaier compensation."""
        total, comp = parts[0], np.zeros_like(parts[0])
        for part in parts[1:]:  # Neumaier: total + comp carries what each addition rounded off
            new = total + part
            comp += np.where(np.abs(total) >= np.abs(part), (total - new) + part, (part - new) + total)
            total = new
        return total + comp

    def prefix_window(self, rows: np.ndarray, hi: int, lo: int | None) -> np.ndarray:
        """Sums over segments ``lo + 1 .. hi`` (``lo=None``: ``0 .. hi``) for some rows: (rows, codes)."""
        parts = [p[rows, hi] if lo is None else p[rows, hi] - p[rows, lo] for p in self.levels]
        if self.rest is not None:
            parts.append(self.rest[rows, (0 if lo is None else lo + 1):hi + 1].sum(axis=1))
        return self.combine(parts)

    def window(self, grid: SegmentGrid, snapshot: int, days: int | None, rows: np.ndarray) -> np.ndarray:
        """Totals in ``[t - days, t)`` (``days=None``: everything before ``t``), as :func:`window`."""
        t_day = grid.snapshot_days[snapshot]
        hi = int(grid.edge(t_day))
        return self.prefix_window(rows, hi, None if days is None else int(grid.edge(t_day - days)))

