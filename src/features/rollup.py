"""The shared pass: events counted once per (account, segment), windows as prefix-sum differences.

Why numpy and not SQL for this step: on 20M events / 100k accounts / 12 weekly snapshots
(2 cores), DuckDB's GROUP BY to account x day x event alone took ~8 s and its wide
``FILTER`` pivots ~8 s more, while one ``np.bincount`` into a dense (account, segment, type)
array takes ~1 s and the prefix sums ~0.2 s. SQL reads, maps and validates the tables
(:mod:`features.data.sources`, :mod:`features.data.validate`); this module only does arithmetic on the
integer-coded columns it gets back, so it ports to any engine that can hand over arrays.

Conventions (see :mod:`features.windows`): ``row`` is the account's row in the output block,
``seg`` its segment; a *prefix* array ``P[row, i]`` holds the total over segments ``0..i``, i.e.
over the days before ``edges[i]``, so a window ``[t - w, t)`` is ``P[:, edge(t)] - P[:, edge(t - w)]``.
Counts are integers, so these differences are exact. Float sums (``quantity``) go through
:class:`ExactSums`, whose prefix sums are exact too: a window's sum is its exact total rounded to
double precision (within a few units in the last place of that total), whatever rows outside it hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from features.windows import SegmentGrid

_FAR = np.iinfo(np.int64).max
_CHUNK = 1 << 20  # events per step where a pass is cut in pieces (small temporaries, in cache)


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


@dataclass(frozen=True)
class TripleKey:
    """How a (row, entity, segment) triple packs into one sortable 64-bit key: row bits, then entity
    bits, then segment bits. Entities wider than the bits left (64-bit user hashes) keep their high
    bits (``wide``): two users of one account then collide with probability ~ users^2 / 2^(ent_bits+1),
    negligible at >= 36 bits.

    >>> layout = TripleKey.of(n_rows=4, n_segs=3)
    >>> key = np.empty(2, np.uint64)
    >>> layout.pack(key, np.array([1, 3]), np.array([5, 6]), np.array([2, 0]), wide=False)
    >>> [layout.row_of(k) for k in key.tolist()], (key & np.uint64(3)).tolist()
    ([1, 3], [2, 0])
    """

    row_bits: int
    seg_bits: int

    @classmethod
    def of(cls, n_rows: int, n_segs: int) -> "TripleKey":
        return cls(max(int(n_rows).bit_length(), 1), max(int(n_segs).bit_length(), 1))

    @property
    def ent_bits(self) -> int:
        return 64 - self.row_bits - self.seg_bits

    def is_wide(self, top: int) -> bool:
        """Whether an entity as large as ``top`` has to lose its low bits."""
        return top >= (1 << self.ent_bits)

    def pack(self, out: np.ndarray, row: np.ndarray, entity: np.ndarray, seg: np.ndarray, wide: bool) -> None:
        """Write the keys of aligned (row, entity, segment) arrays into ``out`` (uint64, same length)."""
        out[:] = row
        out <<= np.uint64(self.ent_bits + self.seg_bits)
        part = entity.astype(np.uint64)
        if wide:
            part >>= np.uint64(64 - self.ent_bits)
        part <<= np.uint64(self.seg_bits)
        out |= part
        part[:] = seg
        out |= part

    def row_of(self, key: int) -> int:
        return key >> (self.ent_bits + self.seg_bits)


@dataclass(frozen=True)
class LastSeen:
    """Distinct (row, entity, segment) triples with the entity's next active segment.

    Counting distinct entities (users, event types) in a window ``[t - w, t)``: take each entity's
    last active segment before ``t`` (``seg <= edge(t) < next_seg``) and keep it when it lies in
    the window (``seg > edge(t - w)``). One sort serves every snapshot and window.
    """

    row: np.ndarray
    seg: np.ndarray
    next_seg: np.ndarray

    @classmethod
    def build(cls, row: np.ndarray, entity: np.ndarray, seg: np.ndarray, n_rows: int, n_segs: int,
              skip_zero: bool = False) -> "LastSeen":
        """From events' rows, entities and segments (aligned arrays); ``skip_zero``: events whose entity
        is 0 (no user) are left out."""
        layout = TripleKey.of(n_rows, n_segs)
        wide = bool(len(entity)) and layout.is_wide(int(entity.max()))
        # packed a million events at a time into the one array this method makes: a chain of shifts and
        # ors over whole columns made 8-byte temporaries per event (the build's peak at 100 M events)
        key = np.empty(len(row), dtype=np.uint64)
        for i in range(0, len(row), _CHUNK):
            layout.pack(key[i:i + _CHUNK], row[i:i + _CHUNK], entity[i:i + _CHUNK], seg[i:i + _CHUNK], wide)
        if skip_zero:
            named = entity != 0
            if not named.all():  # (every event names its user: nothing to leave out)
                key = np.compress(named, key)
            del named
        return cls.from_keys(key, layout)

    @classmethod
    def from_keys(cls, key: np.ndarray, layout: TripleKey) -> "LastSeen":
        """From the packed keys of the events' triples (sorted here, in place: the array is consumed)."""
        seg_bits = layout.seg_bits
        key.sort()
        if len(key):
            first = np.empty(len(key), dtype=bool)
            first[0] = True
            np.not_equal(key[1:], key[:-1], out=first[1:])
            key = np.compress(first, key)
            del first
        # rows and segments fit 32 bits (the caller's row numbers and segment indices are int32)
        seg_out = (key & np.uint64((1 << seg_bits) - 1)).astype(np.int32)
        owner = key >> np.uint64(seg_bits)  # (row, entity) packed
        next_seg = np.full(len(key), _FAR, dtype=np.int64)
        same = owner[1:] == owner[:-1]
        del owner
        next_seg[:-1][same] = seg_out[1:][same]
        del same
        key >>= np.uint64(layout.ent_bits + seg_bits)
        return cls(key.astype(np.int32), seg_out, next_seg)

    def counts(self, grid: SegmentGrid, snapshot: int, spans: list[int | None], n_rows: int) -> dict:
        """Distinct entities per row in each window ``[t - days, t)`` (``None``: ever before ``t``)."""
        t_day = grid.snapshot_days[snapshot]
        hi = int(grid.edge(t_day))
        last = (self.seg <= hi) & (self.next_seg > hi)
        rows, segs = self.row[last], self.seg[last]
        out = {}
        for days in spans:
            pick = rows if days is None else rows[segs > int(grid.edge(t_day - days))]
            out[days] = np.bincount(pick, minlength=n_rows)
        return out


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
    exact levels of :class:`ExactSums`, gives the same totals whatever the order of the events. Unless
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


class DistinctSweep:
    """Distinct entities (users, event types) per row in windows of segments, along a sweep.

    From the (row, entity, segment) triples of :class:`LastSeen`, a triple is *active* at segment ``s``
    when it is its entity's last one up to ``s`` (``seg <= s < next_seg``). ``H[seg, row]`` counts the
    active triples by their segment, so the distinct entities in the window of segments ``lo + 1 .. hi``
    are ``H[lo + 1:hi + 1, row].sum()`` and those ever seen are all the active ones. Moving from one
    segment to the next adds the triples that start there and retires those their next triple replaces;
    a snapshot then costs a few rows of ``H`` instead of a scan of every triple.

    >>> seen = LastSeen.build(np.array([0, 0, 0]), np.array([7, 7, 8]), np.array([0, 2, 1]), 1, 3)
    >>> sweep = DistinctSweep(seen, 1, 3)
    >>> for s in range(3):
    ...     sweep.advance(s)
    >>> sweep.window(np.array([0]), 2, 1).tolist(), sweep.window(np.array([0]), 2, None).tolist()
    ([1], [2])
    """

    def __init__(self, seen: LastSeen, n_rows: int, n_segs: int) -> None:
        # Per segment, the rows of the triples that start there and the cells (segment, row) of those
        # retired there, each in an array of its own, dropped once taken: the sweep's past costs no memory
        # (4 + 4 bytes a triple, not 16 for the whole sweep: ~220 MiB less at its end at 100 M events).
        small = n_segs < (1 << 16)
        order = np.argsort(seen.seg.astype(np.uint16) if small else seen.seg, kind="stable")
        on_rows = seen.row.astype(np.int32, copy=False)[order]
        del order
        self._on = _cut(on_rows, np.bincount(seen.seg, minlength=n_segs))
        del on_rows
        retired = np.flatnonzero(seen.next_seg < n_segs)
        nxt = seen.next_seg[retired]
        order = np.argsort(nxt.astype(np.uint16) if small else nxt, kind="stable")
        cell_type = np.int32 if n_rows * n_segs < (1 << 31) else np.int64
        cells = seen.seg[retired].astype(cell_type)
        cells *= cell_type(n_rows)
        cells += seen.row[retired]
        del retired
        self._off = _cut(cells[order], np.bincount(nxt, minlength=n_segs))
        del cells, order, nxt
        # hist[seg, row]: segments as rows, so that a window adds a few contiguous rows of it
        self.hist = np.zeros((n_segs, n_rows), dtype=np.int32)
        self.active = np.zeros(n_rows, dtype=np.int64)
        self.n_rows = n_rows
        self.released = 0  # bytes of the segments taken so far

    def advance(self, s: int) -> None:
        """Take segment ``s`` in (segments must come in order 0, 1, ...)."""
        on, self._on[s] = self._on[s], None
        if on is None:
            raise RuntimeError(f"segment {s} was already taken")
        if len(on):
            added = np.bincount(on, minlength=self.n_rows)
            self.hist[s] += added.astype(np.int32)
            self.active += added
        off, self._off[s] = self._off[s], None
        self.released += on.nbytes + off.nbytes
        if len(off):
            # on the flat view with an int32 one: numpy's fast path for ufunc.at (15x the 2-D form here)
            np.subtract.at(self.hist.reshape(-1), off, np.int32(1))
            self.active -= np.bincount(off % self.n_rows, minlength=self.n_rows)

    def window(self, rows: np.ndarray, hi: int, lo: int | None) -> np.ndarray:
        """Distinct entities of ``rows`` in segments ``lo + 1 .. hi`` (None: ever), after ``advance(hi)``."""
        if lo is None:
            return self.active[rows]
        return self.hist[lo + 1:hi + 1].sum(axis=0, dtype=np.int64)[rows]


def _cut(values: np.ndarray, sizes: np.ndarray) -> list[np.ndarray | None]:
    """``values`` cut into consecutive pieces of the given sizes, each a copy of its own (freed alone)."""
    ends = np.cumsum(sizes)
    return [values[e - k:e].copy() for e, k in zip(ends.tolist(), sizes.tolist())]
