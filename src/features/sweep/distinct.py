"""Distinct entities (users, event types) per account in windows of segments.

Counting distinct entities in ``[t - w, t)`` needs, per entity, its last active segment before ``t``:
:class:`LastSeen` sorts the (row, entity, segment) triples once, :class:`DistinctSweep` walks them along
the pass so that a snapshot reads a few rows of a histogram instead of scanning every triple.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.windows import SegmentGrid

_FAR = np.iinfo(np.int64).max
_CHUNK = 1 << 20  # events per step where a pass is cut in pieces (small temporaries, in cache)


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
        """The layout for ``n_rows`` rows and ``n_segs`` segments (the entity gets the bits left)."""
        return cls(max(int(n_rows).bit_length(), 1), max(int(n_segs).bit_length(), 1))

    @property
    def ent_bits(self) -> int:
        """The bits an entity keeps."""
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
        """The row of a packed key."""
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
        if 4 * len(rows) < self.n_rows:  # a few accounts (first looks): sum their columns only
            return self.hist[lo + 1:hi + 1][:, rows].sum(axis=0, dtype=np.int64)
        return self.hist[lo + 1:hi + 1].sum(axis=0, dtype=np.int64)[rows]


def _cut(values: np.ndarray, sizes: np.ndarray) -> list[np.ndarray | None]:
    """``values`` cut into consecutive pieces of the given sizes, each a copy of its own (freed alone)."""
    ends = np.cumsum(sizes)
    return [values[e - k:e].copy() for e, k in zip(ends.tolist(), sizes.tolist())]
