"""Exact duplicate rows of a log: a 64-bit hash per row finds candidates, their values decide, and
:func:`keeps_repeats` says when repeated rows are kept (``data.duplicates``: dates without a time of day
are several actions on one day, not a double export).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.windows import DAY_US

_MIX = np.uint64(0x9E3779B97F4A7C15)
THREADS = max(1, min(4, os.cpu_count() or 1))  # threads of a whole-table pass (numpy lets go of the GIL)
CHUNK = 1 << 22  # rows per step of a whole-table pass: temporaries of a few MiB, not of the table's size


def _bits64(column: np.ndarray) -> np.ndarray:
    """The 64 bits of each value (a view for 64-bit columns, a widening copy otherwise)."""
    if column.dtype.kind == "f":  # + 0.0 turns -0.0 into 0.0: equal values, one hash
        return (column.astype(np.float64, copy=False) + 0.0).view(np.uint64)
    if column.dtype.itemsize == 8:
        return column.view(np.uint64)
    return column.astype(np.int64).view(np.uint64)


def row_hash(columns: list[np.ndarray], chunk: int = 1 << 20, numbered: bool = False) -> np.ndarray:
    """A 64-bit hash of each row of integer/float columns (multiply-xorshift mixing, vectorised, in place,
    a million rows at a time so that the temporaries stay small whatever the table's size; the chunks are
    spread over the cores, as numpy lets go of the GIL).

    Only used to find candidate duplicates: rows that share a hash are compared on their values. With
    ``numbered``, the low ``bit_length(n - 1)`` bits of each hash are replaced by the row's number (see
    :func:`duplicate_rows`).

    >>> a, b = np.array([1, 2, 1]), np.array([0.5, 0.5, 0.5])
    >>> h = row_hash([a, b])
    >>> bool(h[0] == h[2]), bool(h[0] == h[1])
    (True, False)
    """
    n = len(columns[0])
    out = np.zeros(n, dtype=np.uint64)
    low = np.uint64((1 << max(n - 1, 0).bit_length()) - 1)

    def mix(lo: int) -> None:
        h = out[lo:lo + chunk]
        t = np.empty(len(h), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for column in columns:
                np.bitwise_xor(h, _bits64(column[lo:lo + chunk]), out=h)
                np.multiply(h, _MIX, out=h)
                np.right_shift(h, np.uint64(29), out=t)
                np.bitwise_xor(h, t, out=h)
        if numbered:
            np.bitwise_and(h, ~low, out=h)
            np.bitwise_or(h, np.arange(lo, lo + len(h), dtype=np.uint64), out=h)

    starts = range(0, n, chunk)
    if len(starts) < 4:
        for lo in starts:
            mix(lo)
    else:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(mix, starts))
    return out


def duplicate_rows(hashes: np.ndarray | None, columns: list[np.ndarray], skip: np.ndarray | None = None,
                   chunk: int = 1 << 22) -> np.ndarray:
    """Mask of rows that repeat an earlier row exactly (the first of each group is kept).

    Each row's hash keeps its top bits and carries the row's number in the low ones; one sort of these
    words puts rows with the same top bits side by side, and the numbers say which rows they are. Only
    those rows are compared on their actual values, so a hash collision never discards a row.
    (With ``n`` rows, ``64 - bit_length(n - 1)`` bits of hash remain: 39 at 20 M rows, where about 400
    pairs of distinct rows share them by chance and are told apart by the comparison.) ``hashes`` (of
    :func:`row_hash`) None: the words are made here from ``columns``, without a separate pass. Rows where
    ``skip`` is true (already set aside) are nobody's duplicate and have none: they are left out of the
    comparison, which gives the rows the same mask as a search among the other rows alone, without
    copying those.

    >>> cols = [np.array([1, 2, 1, 1]), np.array([5, 5, 5, 6])]
    >>> duplicate_rows(row_hash(cols), cols).tolist()
    [False, False, True, False]
    """
    n = len(columns[0]) if hashes is None else len(hashes)
    mask = np.zeros(n, dtype=bool)
    if n < 2:
        return mask
    low = np.uint64((1 << (n - 1).bit_length()) - 1)
    if hashes is None:
        words = row_hash(columns, numbered=True)
    else:
        words = hashes & ~low
        words |= np.arange(n, dtype=np.uint64)
    words.sort()
    found = []  # neighbours whose top bits agree, a chunk at a time (no temporary as long as the table)
    for lo in range(0, n - 1, chunk):
        hi = min(lo + chunk, n - 1)
        found.append(np.flatnonzero((words[lo + 1:hi + 1] ^ words[lo:hi]) <= low) + lo)
    pairs = np.concatenate(found)
    if not len(pairs):
        return mask
    candidates = np.unique(np.concatenate([words[pairs], words[pairs + 1]]) & low).astype(np.intp)
    del words
    if skip is not None:
        candidates = candidates[~skip[candidates]]
    frame = pd.DataFrame({f"c{i}": col[candidates] for i, col in enumerate(columns)})
    mask[candidates[frame.duplicated(keep="first").to_numpy()]] = True
    return mask


DAY_RESOLUTION_MIN_ROWS = 1000  # a handful of rows at midnight is a hand-made table, not a date-only export


def keeps_repeats(setting: str, ts: np.ndarray) -> bool:
    """Whether identical rows are kept (``data.duplicates``): ``keep``; ``set_aside``; ``auto`` keeps them
    when every timestamp is a date (00:00) in a table of some size (day-resolution data)."""
    if setting not in ("auto", "keep", "set_aside"):
        raise ConfigError(f"data.duplicates: '{setting}' is not one of ['auto', 'keep', 'set_aside']")
    if setting != "auto":
        return setting == "keep"
    if len(ts) < DAY_RESOLUTION_MIN_ROWS or (ts[:DAY_RESOLUTION_MIN_ROWS] % DAY_US).any():
        return False  # a time of day among the first rows settles it without a pass over all of them
    return not any((ts[lo:lo + CHUNK] % DAY_US).any() for lo in range(0, len(ts), CHUNK))
