"""The events a pass reads: those of the block's accounts before its last as-of, prepared a million at a time.

No full-length temporaries (day, row, positions, user hashes, segments): at 100 M events an 8-byte
temporary of the whole log is 800 MB, so every column is computed chunk by chunk into its final array.
"""
from __future__ import annotations

import numpy as np

from features.sweep.distinct import TripleKey
from features.tables import EventLog
from features.windows import SegmentGrid

_CHUNK = 1 << 20  # log rows per step of a pass cut in pieces: its temporaries stay small and in cache


def kept_events(ev: EventLog, row_of: np.ndarray, grid: SegmentGrid, users: TripleKey | None,
                row_ends: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The events a block reads (an account of the block, before the last as-of; with ``row_ends``, a day per
    block row: before that row's last as-of): a mask over the log,
    and their block rows, day buckets and kinds in the log's order; with ``users`` (a key layout), the
    packed (row, user, segment) keys of those that name a user (None in the rare case that the user
    hashes are narrow enough to keep whole: the caller then packs them itself).

    One pass of a million events at a time: no full-length temporaries (day, row, positions, user
    hashes, segments), and positions taken once per chunk for every column (numpy's boolean indexing
    took twice as long)."""
    n = len(ev)
    keep = np.empty(n, dtype=bool)
    end = grid.edges[-1]  # nothing at or after the last as-of
    # outputs at full length, filled from the front: the unused tail is never touched (no memory)
    row = np.empty(n, dtype=np.int32)
    day = np.empty(n, dtype=np.int32)
    kind = np.empty(n, dtype=ev.kind.dtype)
    key = np.empty(n, dtype=np.uint64) if users is not None else None
    if key is not None:  # segments by a lookup table from the log's first day (or the grid's)
        low = min(int(grid.day_of(np.array([ev.ts.min()]))[0]) if n else 0, int(grid.edges[0]) - 1)
        table = grid.segment_table(low)
    at = at_key = top = 0
    for i in range(0, n, _CHUNK):
        j = min(i + _CHUNK, n)
        d = grid.day_of(ev.ts[i:j])
        r = row_of[ev.account[i:j]]
        k = keep[i:j]
        np.less(d, end, out=k)
        k &= r >= 0
        if row_ends is not None and len(row_ends):  # (no row: nothing is kept anyway)
            k &= d < row_ends.take(np.maximum(r, 0))
        pos = np.flatnonzero(k)
        m = at + len(pos)
        np.take(r, pos, out=row[at:m], mode="clip")  # clip: no buffering (positions are valid)
        np.take(d, pos, out=day[at:m], mode="clip")
        np.take(ev.kind[i:j], pos, out=kind[at:m], mode="clip")
        if key is not None:
            user = ev.user[i:j].take(pos)
            named = np.flatnonzero(user)  # events without a user (hash 0) are not counted
            if len(named):
                user = user[named]
                top = max(top, int(user.max()))
                seg = table.take(day[at:m][named] - low)
                users.pack(key[at_key:at_key + len(named)], row[at:m][named], user, seg, wide=True)
                at_key += len(named)
        at = m
    if key is not None and not users.is_wide(top):
        key = None  # (every user hash fits its bits: not what was packed)
    return keep, row[:at], day[:at], kind[:at], None if key is None else key[:at_key]


def segments(grid: SegmentGrid, day: np.ndarray) -> np.ndarray:
    """The segment of each day bucket (int32), by a lookup table, a million at a time."""
    first_day = grid.first_day(day)
    table = grid.segment_table(first_day)
    seg = np.empty(len(day), dtype=np.int32)
    for i in range(0, len(day), _CHUNK):
        np.take(table, day[i:i + _CHUNK] - first_day, out=seg[i:i + _CHUNK], mode="clip")
    return seg
