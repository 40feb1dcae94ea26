"""The pass: one sweep over the day-ordered events of a group of snapshots that share a time of day.

Events are put in day order once; the sweep then adds them up segment by segment (see
:class:`~features.windows.SegmentGrid`), keeping running totals per account. A window
``[t - w, t)`` is the running total at ``t`` minus the one saved at ``t - w``; a saved total is
freed once no later snapshot needs it. Memory therefore grows with the accounts and the longest
window, not with the number of snapshots, and each snapshot costs a few array differences. At each
snapshot the feature families (:mod:`features.families`) compute their values from the running state.
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, MutableMapping
from typing import Iterator, Sequence

import numpy as np

from features.families import activity, key_events, people, plan_limits, recency, touches, usage
from features.families.common import code_of
from features.snapshots import eligible
from features.spec import FeatureSpec
from features.sweep.distinct import DistinctSweep, LastSeen, TripleKey
from features.sweep.events import kept_events, segments
from features.sweep.prefix import ExactSums
from features.sweep.runs import DayRuns, SegmentParts, add_counts, sorted_unique
from features.sweep.state import Snapshot, Totals
from features.tables import EventLog, Tables
from features.windows import SegmentGrid

_MAX_KIND_TOTALS = 64  # event types up to which the sweep keeps a running total per type
_TRIM_BYTES = 32 << 20  # segment parts released between two trims of the C heap (see _return_freed_memory)

Features = MutableMapping[str, np.ndarray]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None on a C library without it)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return None


def _return_freed_memory() -> None:
    """Give the pages of freed heap memory back to the OS. The sweep frees the segments it has passed
    while the output columns are written for the first time; glibc keeps freed chunks of its heap
    resident (chunks up to 32 MiB live there once bigger ones were freed), so without a trim the
    process would hold both: ~650 MiB more peak at 100 M events. A few ms per call."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _spans(spec: FeatureSpec) -> list[int]:
    """Every window length a snapshot reads: the spec's windows, the trend's two periods."""
    return [*spec.windows, spec.trend_days, 2 * spec.trend_days]


def _column_of_kind(log: EventLog, names: Sequence[str], other: int) -> np.ndarray:
    """Per kind code of a log (and one code more), the position in ``names`` of the column it feeds
    (``other`` for the kinds with none)."""
    column = np.full(len(log.names) + 1, other, dtype=np.int32)
    for i, name in enumerate(names):
        code = code_of(log, name)
        if code is not None:
            column[code] = i
    return column


class Sweep:
    """One pass over the events of a group of snapshots that share a time of day (see the module doc).

    ``rows[i]`` are the accounts eligible at snapshot ``i`` (sorted account numbers); the block's rows are
    their union, ``row_of`` maps an account number to its block row (-1: in no snapshot of the group).
    """

    def __init__(self, tables: Tables, spec: FeatureSpec, as_of_us: np.ndarray,
                 step: Callable[[str], object], max_age_us: int | None = None) -> None:
        self.spec, self.tables = spec, tables
        self.grid = grid = SegmentGrid.build(as_of_us, _spans(spec))
        self.rows = [eligible(tables, int(t), max_age_us) for t in as_of_us]
        self.n, self.row_of = self._block_rows(tables.n_accounts)
        n, n_segs = self.n, grid.n_segments
        ev = tables.events
        layout = TripleKey.of(n, n_segs) if spec.has_users else None
        keep, row, day, kind, user_key = kept_events(ev, self.row_of, grid, layout, self._row_ends())
        self.code_of_column, self.per_kind, self.n_codes, code_of_kind = self._codes(ev)
        step("events")
        self.users = self._users(ev, keep, row, day, user_key, layout) if spec.has_users else None
        del user_key
        self.breadth = None if self.per_kind else DistinctSweep(
            LastSeen.build(row, kind, segments(grid, day), n, n_segs), n, n_segs)
        step("users and breadth")
        self.q, self.q_levels, self.q_rest = self._quantities(ev, keep, row, day, kind)
        # codes index a few columns: the smallest integer type holds them (4 bytes an event -> 1 or 2)
        code = code_of_kind.astype(np.min_scalar_type(max(self.n_codes, 1)))[kind]
        del kind
        self.ev = SegmentParts(DayRuns.of(day), grid.edges, [row, code])
        del row, day, code, keep
        step("active days")
        self.tl = self._touches(tables.touches)
        step("touches")
        self.first_key = {name: key_events.first_instants(ev, name, tables.n_accounts) for name in spec.key_events}
        self.people = people.prepare(tables, spec, as_of_us)

    def _row_ends(self) -> np.ndarray:
        """Per block row, the day of its last as-of in the group: its later events reach none of its features
        (a first look reads its account's first day only, not the whole log)."""
        ends = np.full(self.n, self.grid.snapshot_days[-1] if len(self.rows) else 0, dtype=np.int64)
        for day, accounts in zip(self.grid.snapshot_days, self.rows):  # oldest first: the last one stays
            ends[self.row_of[accounts]] = day
        return ends

    def _block_rows(self, n_accounts: int) -> tuple[int, np.ndarray]:
        """The number of block rows and each account's block row (-1: none)."""
        # rows are sorted account numbers: one snapshot's are the union; several are merged by a sort
        # (np.unique hashes, slower here)
        union = (self.rows[0] if len(self.rows) == 1 else sorted_unique(np.concatenate(self.rows)) if self.rows
                 else np.empty(0, np.int64))
        n = len(union)
        row_of = np.full(n_accounts, -1, dtype=np.int32)
        row_of[union] = np.arange(n, dtype=np.int32)
        return n, row_of

    def _codes(self, ev: EventLog) -> tuple[list[int | None], bool, int, np.ndarray]:
        """How events are counted: each event-type column's kind code, whether totals are kept per kind, how
        many codes the totals have, and each kind's code in them.

        Few event types (the usual case): running totals per type, so that the distinct types in a window
        are the non-zero totals. Many: each type with a column gets its own code, the rest share one code
        (counted in totals only), and distinct types are counted from their last-seen segments."""
        spec = self.spec
        code_of_column = [code_of(ev, name) for name in spec.event_types]
        if len(ev.names) <= _MAX_KIND_TOTALS:
            return code_of_column, True, max(len(ev.names), 1), np.arange(len(ev.names), dtype=np.int32)
        n_codes = len(spec.event_types) + 1
        return code_of_column, False, n_codes, _column_of_kind(ev, spec.event_types, len(spec.event_types))

    def _users(self, ev: EventLog, keep: np.ndarray, row: np.ndarray, day: np.ndarray, user_key: np.ndarray | None,
               layout: TripleKey) -> DistinctSweep:
        """Distinct users along the sweep, from the packed keys of :func:`kept_events` (or, when the user
        hashes were narrow enough to keep whole, from the kept events' hashes)."""
        n, n_segs = self.n, self.grid.n_segments
        seen = (LastSeen.from_keys(user_key, layout) if user_key is not None else
                LastSeen.build(row, np.compress(keep, ev.user), segments(self.grid, day), n, n_segs, skip_zero=True))
        return DistinctSweep(seen, n, n_segs)

    def _quantities(self, ev: EventLog, keep: np.ndarray, row: np.ndarray, day: np.ndarray, kind: np.ndarray
                    ) -> tuple[SegmentParts | None, int, np.ndarray | None]:
        """The kept events of a quantity type as segment parts (rows, quantity columns, exact levels), how many
        levels, and what no exact level could hold per (row, segment, column) (None: nothing, as for real data)."""
        spec, grid = self.spec, self.grid
        if not spec.quantity_events or ev.quantity is None:
            return None, 0, None
        q = _column_of_kind(ev, spec.quantity_events, -1)[kind]
        has = np.flatnonzero(q >= 0)
        picked = np.zeros(len(keep), dtype=bool)  # kept events of a quantity type, in the log's order
        picked[keep] = q >= 0
        weights = ev.quantity[picked]
        del picked
        # exact window sums: a huge old quantity cannot erase a small recent one (prefix.ExactSums)
        levels, rest = ExactSums.split(weights)
        levels = levels or [np.zeros(len(has))]
        parts = SegmentParts(DayRuns.of(day[has]), grid.edges, [row[has], q[has], *levels])
        if rest is not None:  # never for real data: summed per segment, as ExactSums does
            rest = ExactSums.build(row[has], grid.segment_of_day(day[has]), q[has],
                                   (self.n, grid.n_segments, len(spec.quantity_events)), weights).rest
        return parts, len(levels), rest

    def _touches(self, tl: EventLog | None) -> tuple[DayRuns, np.ndarray, np.ndarray] | None:
        """The touches of the block's accounts before the last as-of, in day order: their runs, rows and
        columns (None: no touches table)."""
        if tl is None:
            return None
        grid = self.grid
        tday = grid.day_of(tl.ts)
        trow = self.row_of[tl.account]
        tkeep = np.flatnonzero((tday < grid.edges[-1]) & (trow >= 0))
        tcol = _column_of_kind(tl, self.spec.touch_types, len(self.spec.touch_types))
        truns = DayRuns.of(tday[tkeep])
        return truns.runs_only(), truns.arrange(trow[tkeep]), truns.arrange(tcol[tl.kind[tkeep]])

    def snapshots(self, sink: Callable[[int], Features] = lambda i: {}) -> Iterator[tuple[int, Features]]:
        """``(i, features)`` for every snapshot ``i`` of the block, oldest first (see :meth:`_features`);
        ``sink(i)`` is the mapping snapshot ``i``'s columns are written into as they are computed. A sink
        copies what it keeps: some values are views of the running totals, which the sweep moves on."""
        his = [int(self.grid.edge(int(t))) for t in self.grid.snapshot_days]
        last_use = self._last_use(his)
        snapshot_at = {hi: i for i, hi in enumerate(his)}
        counts, levels, touches_, days, last_day, hit = self._zeros()
        saved: dict[int, Totals] = {}
        trimmed = 0  # bytes of segment parts released when the heap was last trimmed
        for s in range(self.grid.n_segments):
            self._add(s, counts, levels, touches_, days, last_day, hit)
            if s in last_use or s in snapshot_at:
                state = Totals(counts, levels, touches_, days)
                if s in last_use:
                    saved[s] = state.compact_copy()
                if s in snapshot_at:
                    i = snapshot_at[s]
                    yield i, self._features(i, state, saved, last_day, sink(i))
                    for lo in [lo for lo, last in last_use.items() if last <= s and lo in saved]:
                        del saved[lo]
                    trimmed = self._trim(trimmed)

    def _last_use(self, his: list[int]) -> dict[int, int]:
        """The saved totals the snapshots read (by edge index), each with the last snapshot (by its edge) that
        reads it."""
        grid = self.grid
        spans = _spans(self.spec)
        needs = {hi: sorted({int(grid.edge(int(t) - w)) for w in spans if w}) for hi, t in zip(his, grid.snapshot_days)}
        last_use: dict[int, int] = {}
        for hi, los in needs.items():
            for lo in los:
                last_use[lo] = max(last_use.get(lo, -1), hi)
        return last_use

    def _zeros(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        """The running state before the first segment: counts, quantity levels, touches, active days, last
        active day, and a scratch mask."""
        n, spec = self.n, self.spec
        # codes x rows: each code's counts are contiguous, so a window's columns, totals and distinct types
        # are whole-row operations (sums across a short last axis were a third of a snapshot's time)
        counts = np.zeros((self.n_codes, n), dtype=np.int32)
        levels = [np.zeros((n, len(spec.quantity_events))) for _ in range(self.q_levels)] if self.q else []
        touches_ = np.zeros((len(spec.touch_types) + 1, n), dtype=np.int32) if self.tl is not None else None
        days = np.zeros(n, dtype=np.int32)
        last_day = np.full(n, -10**9, dtype=np.int64)
        hit = np.zeros(n, dtype=bool)
        return counts, levels, touches_, days, last_day, hit

    def _add(self, s: int, counts: np.ndarray, levels: list[np.ndarray], touches_: np.ndarray | None,
             days: np.ndarray, last_day: np.ndarray, hit: np.ndarray) -> None:
        """Segment ``s`` added into the running state (in place)."""
        edges = self.grid.edges
        lo_day = None if s == 0 else int(edges[s - 1])
        hi_day = int(edges[s])
        ev_row, ev_code = self.ev.pop(s)  # released after this segment: the past costs no memory
        add_counts(counts, ev_code, ev_row)
        del ev_code
        for distinct in (self.users, self.breadth):
            if distinct is not None:
                distinct.advance(s)
        if self.q is not None:
            q_row, q_code, *q_levels = self.q.pop(s)
            for total, weights in zip(levels, q_levels):
                add_counts(total, q_row, q_code, weights)
            del q_row, q_code, q_levels
        if touches_ is not None:
            truns, trow, tcode = self.tl
            ta, tb = truns.span(-2**62 if lo_day is None else lo_day, hi_day)
            add_counts(touches_, tcode[ta:tb], trow[ta:tb])
        # days, one at a time: distinct active days (segment 0 is never inside a finite window,
        # so its days only move the last active day) and the last active day
        first = self.ev.runs.first if lo_day is None else lo_day
        for d in range(max(first, self.ev.runs.first), hi_day):
            rows = self.ev.day(ev_row, s, d)
            if not len(rows):
                continue
            last_day[rows] = d
            if s > 0:
                hit[:] = False
                hit[rows] = True
                days += hit

    def _trim(self, trimmed: int) -> int:
        """Trim the heap when enough segment parts were released since the last trim; the bytes released then."""
        released = sum(part.released for part in (self.ev, self.q, self.users, self.breadth) if part is not None)
        if released - trimmed >= _TRIM_BYTES:
            _return_freed_memory()
            return released
        return trimmed

    def _features(self, i: int, now: Totals, saved: dict[int, Totals], last_day: np.ndarray, out: Features
                  ) -> Features:
        """Every generated (non-fit) feature of snapshot ``i``, for its eligible accounts, written into ``out``:
        each window's totals computed once and read by the families that count in windows, then the rest."""
        snap = self._snapshot(i, now, saved, last_day)
        for days in [*self.spec.windows, None]:
            w = snap.window(days)
            usage.window_values(snap, days, w, out)
            activity.window_values(snap, days, w, out)
            touches.window_values(snap, days, w, out)
        activity.values(snap, out)
        recency.values(snap, out)
        key_events.values(snap, out)
        people.values(snap, out)
        plan_limits.values(snap, out)  # last: reads usage and activity values back
        return out

    def _snapshot(self, i: int, now: Totals, saved: dict[int, Totals], last_day: np.ndarray) -> Snapshot:
        """Snapshot ``i``'s view of the running state."""
        accounts = self.rows[i]
        r = self.row_of[accounts]
        # r is sorted and distinct: as many as the block's rows means every row in order (one snapshot),
        # and the totals are read as they are instead of gathered
        whole = len(r) == self.n
        return Snapshot(spec=self.spec, tables=self.tables, grid=self.grid, accounts=accounts, rows=r,
                        t_day=int(self.grid.snapshot_days[i]),
                        now=now if whole else now.take(r),  # gathered once; each window subtracts its start's totals
                        saved=saved, whole=whole, last_day=last_day, per_kind=self.per_kind,
                        code_of_column=self.code_of_column, quantity=self.q is not None, quantity_rest=self.q_rest,
                        users=self.users, breadth=self.breadth, first_key=self.first_key, people=self.people)
