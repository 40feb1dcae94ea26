"""The one function that makes the feature table, for training (many snapshots) and scoring (one).

``plan_features`` decides the columns from the rows that can reach a feature at or before the
newest as-of (never from later rows, nor from an account's rows after its conversion);
``build_features`` computes them for every eligible account at every as-of, in one shared pass
over the events (:mod:`features.rollup`). Every value at ``t`` reads only rows before ``t``.
"""
from __future__ import annotations

import ctypes
import difflib
import functools
import logging
import re
from contextlib import nullcontext
from dataclasses import dataclass
from collections.abc import Callable, MutableMapping
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features import naming as nm
from features.config import FeatureConfig
from features.errors import ConfigError, DataError
from features.rollup import (DayRuns, DistinctSweep, ExactSums, LastSeen, SegmentParts, TripleKey, add_counts,
                     sorted_unique)
from features.snapshots import eligible
from features.spec import OTHER, Column, FeatureSpec
from features.tables import EventLog, Tables
from features.windows import DAY_US, SegmentGrid, from_us, to_us

log = logging.getLogger("pql")
_CHUNK = 1 << 20  # log rows per step of a pass cut in pieces: its temporaries stay small and in cache

# ----------------------------------------------------------------------------------------------
# Planning: which columns, from the rows that can reach a feature
# ----------------------------------------------------------------------------------------------

ID_MIN_DISTINCT = 20  # fewer distinct values than this never make a column an identifier


def _can_be_eligible(tables: Tables, before_us: int) -> np.ndarray:
    """Per account: eligible at some as-of ``s <= before_us`` (created before ``s``, not converted
    before ``s``), i.e. ``created < min(before_us, converted)``."""
    return tables.created_us < np.minimum(tables.converted_us, before_us)


def _reachable(tables: Tables, log_: EventLog, before_us: int) -> np.ndarray:
    """Per row of an event log: can it reach a feature at some as-of ``s <= before_us``?

    A row of account ``a`` at ``ts`` is in a feature at ``s`` iff ``ts < s`` and ``a`` is eligible
    at ``s`` (``created[a] < s <= converted[a]``); such an ``s`` exists iff
    ``max(ts, created[a]) < min(before_us, converted[a])``. Rows after the newest as-of or after
    the account's conversion are never reachable, so they can change no column choice.

    >>> from features.tables import NEVER
    >>> tables = Tables(pd.DataFrame({"account_id": ["a", "b"]}), created_us=np.array([0, 0]),
    ...                 converted_us=np.array([50, NEVER]), events=EventLog.empty(), touches=None,
    ...                 fit_columns=(), data_end_us=200)
    >>> log_ = EventLog(np.array([0, 0, 1, 1]), np.zeros(4, np.int32), np.array([10, 60, 60, 100]), ("x",))
    >>> _reachable(tables, log_, 100).tolist()  # a after its conversion; b at the as-of itself
    [True, False, True, False]
    """
    return log_.ts < _limits(tables, before_us)[log_.account]


def _limits(tables: Tables, before_us: int) -> np.ndarray:
    """Per account, the instant a row must precede to be reachable (the smallest int64: none is)."""
    # max(ts, created) < limit  <=>  ts < limit and created < limit: one gather per row, not two
    limit = np.minimum(tables.converted_us, before_us)
    return np.where(tables.created_us < limit, limit, np.iinfo(np.int64).min)


def _reachable_kinds(tables: Tables, log_: EventLog | None, before_us: int,
                     quantity: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Per kind code, the log's reachable rows (see :func:`_reachable`) and, with ``quantity``, those
    of them whose quantity is not 1. Counted a million rows at a time: at 100 M events a whole-log mask,
    gather and float weights made the plan's peak 1.6 GiB above the tables."""
    if log_ is None:
        return np.zeros(0, np.int64), None
    n_kinds = len(log_.names)
    limit = _limits(tables, before_us)
    counts = np.zeros(n_kinds, dtype=np.int64)
    varied = np.zeros(n_kinds, dtype=np.int64) if quantity else None
    for i in range(0, len(log_), _CHUNK):
        reach = log_.ts[i:i + _CHUNK] < limit[log_.account[i:i + _CHUNK]]
        kinds = log_.kind[i:i + _CHUNK]
        counts += np.bincount(np.compress(reach, kinds), minlength=n_kinds)
        if varied is not None:
            reach &= log_.quantity[i:i + _CHUNK] != 1.0
            varied += np.bincount(np.compress(reach, kinds), minlength=n_kinds)
    return counts, varied


def _kinds_before(log_: EventLog | None, counts: np.ndarray) -> list[str]:
    """Kind names with reachable rows (``counts`` per kind code), most frequent first (ties by name)."""
    if log_ is None:
        return []
    order = sorted((-int(n), name) for name, n in zip(log_.names, counts) if n > 0)
    return [name for _, name in order]


def _resolve(wanted: str, seen: Sequence[str], what: str) -> str:
    """A configured event name (raw or snake_case) matched against the names seen in reachable rows.

    A name not seen yet is kept as configured (its columns stay empty until it occurs) and noted:
    erroring would make the columns depend on rows after the as-of.
    """
    by_slug = {nm.slug(n): n for n in seen}
    if wanted in seen:
        return wanted
    if nm.slug(wanted) in by_slug:
        return by_slug[nm.slug(wanted)]
    close = difflib.get_close_matches(nm.slug(wanted), list(by_slug), n=3)
    hint = f"; close names: {close}" if close else ""
    log.warning("%s: event type '%s' does not occur before the as-of%s", what, wanted, hint)
    return wanted


def _code(log_: EventLog, name: str) -> int | None:
    """The code of a spec event name in a log: exact, else by snake_case name (None: never occurs)."""
    code = log_.code(name)
    if code is None:
        matches = [i for i, n in enumerate(log_.names) if nm.slug(n) == nm.slug(name)]
        code = matches[0] if matches else None
    return code


def _when(days: int | None) -> str:
    return "since signup" if days is None else f"in the last {days} days"


def _window_columns(prefix: str, group: str, windows: Iterable[int | None], text: str, zero: str,
                    kind: str = "count") -> list[Column]:
    """One column per window; ``text`` and ``zero`` are templates with ``{when}`` ("in the last 30
    days"; "since signup" for all history, whose zero wording says "ever"/"yet" instead).

    >>> [c.name for c in _window_columns("task", "usage", [7, None], "'task' {{value}} time{{s}} {when}",
    ...                                  "no 'task' {when}")]
    ['task_count_7d', 'task_count_all']
    >>> _window_columns("task", "usage", [None], "'task' {{value}} time{{s}} {when}", "no 'task' {when}")[0].zero
    "no 'task' ever"
    """
    out = []
    for days in windows:
        name = nm.count_name(prefix, days) if kind == "count" else nm.quantity_name(prefix, days)
        out.append(Column(name, kind, group, text.format(when=_when(days)),
                          zero=zero.format(when="ever" if days is None else _when(days))))
    return out


def _readable(slug: str, raw: str | None = None) -> str:
    """How a reason names an event type: its snake_case words, or its own name when the slug is a hash
    (a name in a script with no ASCII form); braces are dropped so the name is safe in a template."""
    if raw is not None and nm.short_hash(raw) in slug:
        return " ".join(raw.split())[:60].replace("{", "(").replace("}", ")").replace("'", "’")
    return slug.replace("_", " ")


def _template_safe(text: str) -> str:
    """Text from the data, safe inside a ``str.format`` template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def plan_features(tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
    """The feature spec for a build whose newest as-of is ``as_of_max``, from the rows that can reach
    a feature at or before it only (see :func:`_reachable`): rows after ``as_of_max`` or after an
    account's conversion change no column. ``key_events``/``plan_limits`` of None mean none."""
    t = to_us(as_of_max) if not isinstance(as_of_max, (int, np.integer)) else int(as_of_max)
    events = tables.events
    with_quantity = config.quantity and events.quantity is not None
    counts, varied = _reachable_kinds(tables, events, t, quantity=with_quantity)
    seen = _kinds_before(events, counts)
    if config.event_types is not None:
        chosen = [_resolve(e, seen, "features.event_types") for e in config.event_types]
    else:
        chosen = seen[: config.max_event_types]
    quantity = []
    if with_quantity:
        varies = varied > 0
        quantity = [e for e in chosen if _code(events, e) is not None and varies[_code(events, e)]]
    touches = _kinds_before(tables.touches, _reachable_kinds(tables, tables.touches, t)[0])[: config.max_event_types]
    keys = [_resolve(k, seen, "features.key_events") for k in (config.key_events or ())]
    has_users = events.user is not None  # the schema decides, not the rows (rows after t must not matter)
    windows = tuple(config.windows)
    all_windows: list[int | None] = [*windows, None]

    cols: list[Column] = []
    slugs = dict(zip(chosen, nm.unique_slugs(chosen)))
    for event in chosen:
        e = _readable(slugs[event], event)
        cols += _window_columns(slugs[event], "usage", all_windows, f"'{e}' {{{{value}}}} time{{{{s}}}} {{when}}",
                                f"no '{e}' {{when}}")
    for event in quantity:
        e = _readable(slugs[event], event)
        cols += _window_columns(slugs[event], "usage", all_windows, f"total quantity of '{e}' {{when}}: {{{{value}}}}",
                                f"no quantity of '{e}' {{when}}", kind="quantity")
    cols += _window_columns(nm.ALL_EVENTS, "usage", windows, "{{value}} product action{{s}} {when}",
                            "no activity {when}")
    cols.append(Column(nm.count_name(nm.ALL_EVENTS, None), "count", "usage",
                       "{value} product action{s} since signup", zero="no product activity yet"))
    for days in windows:
        cols.append(Column(nm.active_days(days), "count", "usage", f"active on {{value}} of the last {days} days",
                           zero=f"not active in the last {days} days"))
    if has_users:
        for days in all_windows:
            cols.append(Column(nm.active_users(days), "count", "usage", f"{{value}} user{{s}} active {_when(days)}",
                               zero="no users active yet" if days is None else f"no users active {_when(days)}"))
    for days in windows:
        cols.append(Column(nm.event_types(days), "count", "usage",
                           f"{{value}} different product action{{s}} in the last {days} days",
                           zero=f"no activity in the last {days} days"))
    n = config.trend_days
    cols.append(Column(nm.trend(n), "ratio", "usage", f"activity trend {{value}} (last {n} days vs the {n} before)",
                       zero=f"activity flat (last {n} days vs the {n} before)"))
    cols.append(Column(nm.DAYS_SINCE_LAST_EVENT, "days", "usage", "last active {value} day{s} ago",
                       missing="no product activity yet", zero="active in the last 24 hours"))
    cols.append(Column(nm.DAYS_SINCE_SIGNUP, "days", "usage", "signed up {value} day{s} ago",
                       zero="signed up less than a day ago"))
    key_slugs = dict(zip(keys, nm.unique_slugs(keys)))
    for event in keys:
        readable = _readable(key_slugs[event], event)
        cols.append(Column(nm.days_to_first(key_slugs[event]), "days", "usage",
                           f"first '{readable}' {{value}} day{{s}} after signup", missing=f"no '{readable}' yet",
                           zero=f"first '{readable}' less than a day after signup"))
    touch_slugs = dict(zip(touches, nm.unique_slugs(touches)))
    for touch in touches:
        readable = _readable(touch_slugs[touch], touch)
        cols += _window_columns(nm.touch_prefix(touch_slugs[touch]), "touch", all_windows,
                                f"'{readable}' {{{{value}}}} time{{{{s}}}} {{when}}", f"no '{readable}' {{when}}")
    if tables.touches is not None:
        cols += _window_columns(nm.ALL_TOUCHES, "touch", all_windows,
                                "touched by marketing {{value}} time{{s}} {when}", "no marketing touch {when}")

    fit_cols, dropped = _fit_columns(tables, t, config)
    numeric_fit = {c.name for c in fit_cols if not c.is_categorical}
    plan_limits: dict[str, dict[str, str]] = {}
    for name, limit in (config.plan_limits or {}).items():
        used, cap = limit.get("used"), limit.get("limit")
        if cap not in numeric_fit:
            why = (" (it was dropped: excluded or identifier-like, see features.exclude_columns and "
                   "features.id_like_share)" if cap in dropped else "")
            raise ConfigError(f"features.plan_limits.{name}.limit: '{cap}' is not a numeric accounts column{why} "
                              f"(numeric fit columns: {sorted(numeric_fit)})")
        if used == "active_users":
            if not has_users:
                raise ConfigError(f"features.plan_limits.{name}.used: active_users needs a user_id column in events")
        else:
            used = _resolve(str(used), seen, f"features.plan_limits.{name}.used")
        plan_limits[name] = {"used": str(used), "limit": str(cap)}
        label = _readable(name)
        safe = _template_safe(label)
        cols.append(Column(nm.limit_used(name), "count", "plan", f"{safe} used: {{value}}", zero=f"no {label} used"))
        cols.append(Column(nm.limit_ratio(name), "ratio", "plan", f"{safe}: {{value}} of the plan limit used",
                           missing=f"{label}: plan limit unknown"))
    generated = {c.name for c in cols}
    for col in fit_cols:
        if col.name in generated:
            raise DataError("accounts", col.name, "has the name of a generated feature; rename it in the data")
    return FeatureSpec(windows=windows, event_types=tuple(chosen), quantity_events=tuple(quantity),
                       touch_types=tuple(touches), key_events=tuple(keys), has_users=has_users,
                       trend_days=config.trend_days,
                       plan_limits=plan_limits,
                       columns=tuple(cols + fit_cols), dropped_columns=dropped)


_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$")


def _id_like_name(name: str) -> bool:
    """``id``, ``account_id``, ``accountId``, ``userID``, ``uuid``, ``crm_key`` (not ``paid``, ``valid``).

    >>> [_id_like_name(n) for n in ("id", "ID", "org_id", "accountId", "uuid", "hubspot_key", "paid", "seats")]
    [True, True, True, True, True, True, False, False]
    """
    return bool(_ID_NAME.search(nm.slug(name)))


def _fit_columns(tables: Tables, t: int, config: FeatureConfig) -> tuple[list[Column], tuple[str, ...]]:
    """Numeric accounts columns stay numeric; text becomes categorical (top categories + ``(other)``).

    Planned from the accounts that can be eligible before ``t`` only. Skipped, and returned as the
    second value: ``config.exclude_columns``, and identifiers -- text whose distinct values cover at
    least ``config.id_like_share`` of its values, or numbers all distinct under an id-like name (both
    only with at least ``ID_MIN_DISTINCT`` distinct values; ``id_like_share=None`` keeps them).
    """
    known = tables.accounts[_can_be_eligible(tables, t)]
    excluded = set(config.exclude_columns or ())
    unknown = sorted(excluded - set(tables.fit_columns))
    if unknown:
        log.warning("features.exclude_columns: %s %s not a fit attribute of accounts (fit attributes: %s)",
                    unknown, "is" if len(unknown) == 1 else "are", list(tables.fit_columns))
    out, dropped = [], []
    for name in tables.fit_columns:
        if name in excluded:
            dropped.append(name)
            continue
        values = known[name]
        numeric = pd.api.types.is_bool_dtype(values) or (pd.api.types.is_numeric_dtype(values)
                                                         and not isinstance(values.dtype, pd.CategoricalDtype))
        why = _identifier(name, values, numeric, config.id_like_share)
        if why:
            log.warning("accounts column '%s' looks like an identifier (%s): not used as a fit attribute. "
                        "features.id_like_share=null keeps it; features.exclude_columns=[...] drops other "
                        "columns", name, why)
            dropped.append(name)
            continue
        label = _readable(name)
        if numeric:
            out.append(Column(name, "numeric", "fit", f"{_template_safe(label)}: {{value}}", missing=f"{label}: unknown"))
            continue
        counts = values.dropna().astype(str).value_counts()
        counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        cats = list(counts.index[: config.max_categories])
        if len(counts) > config.max_categories:
            cats.append(OTHER)
        out.append(Column(name, "category", "fit", f"{_template_safe(label)}: {{value}}", tuple(cats),
                          missing=f"{label}: unknown"))
    return out, tuple(dropped)


def _identifier(name: str, values: pd.Series, numeric: bool, share: float | None) -> str | None:
    """Why a fit column is an identifier (None: it is not one)."""
    if share is None:
        return None
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values) or len(present) == 0:
        return None
    distinct = int(present.astype(str).nunique()) if not numeric else int(present.nunique())
    if distinct < ID_MIN_DISTINCT:
        return None
    if not numeric and distinct >= share * len(present):
        return f"{distinct:,} distinct values in {len(present):,} accounts, features.id_like_share={share}"
    if numeric and _id_like_name(name) and distinct == len(present):
        return f"an id-like name and {distinct:,} distinct numbers in {len(present):,} accounts"
    return None


# ----------------------------------------------------------------------------------------------
# Building: every eligible account at every as-of, one pass
# ----------------------------------------------------------------------------------------------


_MAX_KIND_TOTALS = 64  # event types up to which the sweep keeps a running total per type
_TRIM_BYTES = 32 << 20  # segment parts released between two trims of the C heap (see _return_freed_memory)


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


def _kept_events(ev: EventLog, row_of: np.ndarray, grid: SegmentGrid, users: TripleKey | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The events a block reads (an account of the block, before the last as-of): a mask over the log,
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


def _segments(grid: SegmentGrid, day: np.ndarray) -> np.ndarray:
    """The segment of each day bucket (int32), by a lookup table, a million at a time."""
    first_day = grid.first_day(day)
    table = grid.segment_table(first_day)
    seg = np.empty(len(day), dtype=np.int32)
    for i in range(0, len(day), _CHUNK):
        np.take(table, day[i:i + _CHUNK] - first_day, out=seg[i:i + _CHUNK], mode="clip")
    return seg


class _Block:
    """One sweep over the events of a group of snapshots that share a time of day.

    Events are put in day order once; the sweep then adds them up segment by segment (see
    :class:`~features.windows.SegmentGrid`), keeping running totals per account. A window
    ``[t - w, t)`` is the running total at ``t`` minus the one saved at ``t - w``; a saved total is
    freed once no later snapshot needs it. Memory therefore grows with the accounts and the longest
    window, not with the number of snapshots, and each snapshot costs a few array differences.
    """

    def __init__(self, tables: Tables, spec: FeatureSpec, as_of_us: np.ndarray, step) -> None:
        self.spec, self.tables = spec, tables
        spans = [*spec.windows, spec.trend_days, 2 * spec.trend_days]
        self.grid = grid = SegmentGrid.build(as_of_us, spans)
        self.rows = [eligible(tables, int(t)) for t in as_of_us]
        # rows are sorted account numbers: one snapshot's are the union; several are merged by a sort
        # (np.unique hashes, slower here)
        union = (self.rows[0] if len(self.rows) == 1 else sorted_unique(np.concatenate(self.rows)) if self.rows
                 else np.empty(0, np.int64))
        self.n = n = len(union)
        self.row_of = np.full(tables.n_accounts, -1, dtype=np.int32)
        self.row_of[union] = np.arange(n, dtype=np.int32)
        n_segs = grid.n_segments

        ev = tables.events
        layout = TripleKey.of(n, n_segs) if spec.has_users else None
        keep, row, day, kind, user_key = _kept_events(ev, self.row_of, grid, layout)
        # Few event types (the usual case): running totals per type, so that the distinct types in a window
        # are the non-zero totals. Many: each type with a column gets its own code, the rest share one code
        # (counted in totals only), and distinct types are counted from their last-seen segments.
        self.code_of_column = [_code(ev, name) for name in spec.event_types]
        self.per_kind = len(ev.names) <= _MAX_KIND_TOTALS
        if self.per_kind:
            code_of_kind = np.arange(len(ev.names), dtype=np.int32)
            self.n_codes = max(len(ev.names), 1)
        else:
            code_of_kind = np.full(len(ev.names) + 1, len(spec.event_types), dtype=np.int32)
            for i, code in enumerate(self.code_of_column):
                if code is not None:
                    code_of_kind[code] = i
            self.n_codes = len(spec.event_types) + 1
        step("events")
        self.users = None
        if spec.has_users:
            seen = (LastSeen.from_keys(user_key, layout) if user_key is not None else
                    LastSeen.build(row, np.compress(keep, ev.user), _segments(grid, day), n, n_segs, skip_zero=True))
            self.users = DistinctSweep(seen, n, n_segs)
            del seen, user_key
        self.breadth = None if self.per_kind else DistinctSweep(
            LastSeen.build(row, kind, _segments(grid, day), n, n_segs), n, n_segs)
        step("users and breadth")
        self.q: SegmentParts | None = None  # quantities: rows, codes and exact levels, per segment
        self.q_rest = None
        if spec.quantity_events and ev.quantity is not None:
            qcol = np.full(len(ev.names) + 1, -1, dtype=np.int32)
            for i, name in enumerate(spec.quantity_events):
                if _code(ev, name) is not None:
                    qcol[_code(ev, name)] = i
            q = qcol[kind]
            has = np.flatnonzero(q >= 0)
            picked = np.zeros(len(keep), dtype=bool)  # kept events of a quantity type, in the log's order
            picked[keep] = q >= 0
            weights = ev.quantity[picked]
            del picked
            # exact window sums: a huge old quantity cannot erase a small recent one (rollup.ExactSums)
            levels, rest = ExactSums.split(weights)
            levels = levels or [np.zeros(len(has))]
            self.q_levels = len(levels)
            self.q = SegmentParts(DayRuns.of(day[has]), grid.edges, [row[has], q[has], *levels])
            if rest is not None:  # never for real data: summed per segment, as ExactSums does
                self.q_rest = ExactSums.build(row[has], grid.segment_of_day(day[has]), q[has],
                                              (n, n_segs, len(spec.quantity_events)), weights).rest
            del q, has, weights, levels
        # codes index a few columns: the smallest integer type holds them (4 bytes an event -> 1 or 2)
        code = code_of_kind.astype(np.min_scalar_type(max(self.n_codes, 1)))[kind]
        del kind
        self.ev = SegmentParts(DayRuns.of(day), grid.edges, [row, code])
        del row, day, code, keep
        step("active days")
        self.tl = None
        if tables.touches is not None:
            tl = tables.touches
            tday = grid.day_of(tl.ts)
            trow = self.row_of[tl.account]
            tkeep = np.flatnonzero((tday < grid.edges[-1]) & (trow >= 0))
            tcol = np.full(len(tl.names) + 1, len(spec.touch_types), dtype=np.int32)
            for i, name in enumerate(spec.touch_types):
                if _code(tl, name) is not None:
                    tcol[_code(tl, name)] = i
            truns = DayRuns.of(tday[tkeep])
            self.tl = (truns.runs_only(), truns.arrange(trow[tkeep]), truns.arrange(tcol[tl.kind[tkeep]]))
        step("touches")
        self.first_key = {name: _first_occurrence(ev, name, tables.n_accounts) for name in spec.key_events}

    def snapshots(self, sink: Callable[[int], MutableMapping[str, np.ndarray]] = lambda i: {}
                  ) -> Iterator[tuple[int, MutableMapping[str, np.ndarray]]]:
        """``(i, features)`` for every snapshot ``i`` of the block, oldest first (see :meth:`_features`);
        ``sink(i)`` is the mapping snapshot ``i``'s columns are written into as they are computed. A sink
        copies what it keeps: some values are views of the running totals, which the sweep moves on."""
        spec, grid, n = self.spec, self.grid, self.n
        spans = [*spec.windows, spec.trend_days, 2 * spec.trend_days]
        n_segs = grid.n_segments
        his = [int(grid.edge(int(t))) for t in grid.snapshot_days]
        # the saved totals each snapshot reads, and the last snapshot (by its edge) that reads each one
        needs = {hi: sorted({int(grid.edge(int(t) - w)) for w in spans if w}) for hi, t in zip(his, grid.snapshot_days)}
        last_use: dict[int, int] = {}
        for hi, los in needs.items():
            for lo in los:
                last_use[lo] = max(last_use.get(lo, -1), hi)
        # codes x rows: each code's counts are contiguous, so a window's columns, totals and distinct types
        # are whole-row operations (sums across a short last axis were a third of a snapshot's time)
        counts = np.zeros((self.n_codes, n), dtype=np.int32)
        levels = [np.zeros((n, len(spec.quantity_events))) for _ in range(self.q_levels)] if self.q else []
        touches = np.zeros((len(spec.touch_types) + 1, n), dtype=np.int32) if self.tl is not None else None
        days = np.zeros(n, dtype=np.int32)
        last_day = np.full(n, -10**9, dtype=np.int64)
        hit = np.zeros(n, dtype=bool)
        saved: dict[int, _Totals] = {}
        snapshot_at = {hi: i for i, hi in enumerate(his)}
        trimmed = 0  # bytes of segment parts released when the heap was last trimmed
        edges = grid.edges
        for s in range(n_segs):
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
            if touches is not None:
                truns, trow, tcode = self.tl
                ta, tb = truns.span(-2**62 if lo_day is None else lo_day, hi_day)
                add_counts(touches, tcode[ta:tb], trow[ta:tb])
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
            if s in last_use or s in snapshot_at:
                state = _Totals(counts, levels, touches, days)
                if s in last_use:
                    saved[s] = state.compact_copy()
                if s in snapshot_at:
                    i = snapshot_at[s]
                    yield i, self._features(i, state, saved, last_day, sink(i))
                    for lo in [lo for lo, last in last_use.items() if last <= s and lo in saved]:
                        del saved[lo]
                    released = sum(part.released for part in (self.ev, self.q, self.users, self.breadth)
                                   if part is not None)
                    if released - trimmed >= _TRIM_BYTES:
                        _return_freed_memory()
                        trimmed = released

    def _features(self, i: int, now: "_Totals", saved: dict[int, "_Totals"], last_day: np.ndarray,
                  out: MutableMapping[str, np.ndarray]) -> MutableMapping[str, np.ndarray]:
        """Every generated (non-fit) feature of snapshot ``i``, for its eligible accounts, written into ``out``."""
        spec, grid = self.spec, self.grid
        accounts = self.rows[i]
        r = self.row_of[accounts]
        t_day = int(grid.snapshot_days[i])
        t_us = self.grid.anchor_us + t_day * DAY_US

        # r is sorted and distinct: as many as the block's rows means every row in order (one snapshot),
        # and the totals are read as they are instead of gathered
        whole = len(r) == self.n
        now_r = now if whole else now.take(r)  # gathered once; each window subtracts its start's saved totals

        def win(days: int | None) -> "_Totals":
            if days is None:
                return now_r
            start = saved[int(grid.edge(t_day - days))]
            return now_r.minus(start if whole else start.take(r))

        all_windows: list[int | None] = [*spec.windows, None]
        slugs = nm.unique_slugs(spec.event_types)
        totals: dict[int | None, np.ndarray] = {}
        for days in all_windows:
            w = win(days)
            counts = w.counts
            for j, s in enumerate(slugs):
                if not self.per_kind:
                    out[nm.count_name(s, days)] = counts[j]
                else:
                    code = self.code_of_column[j]
                    out[nm.count_name(s, days)] = np.zeros(len(r), np.int32) if code is None else counts[code]
            if self.per_kind and days is not None:
                out[nm.event_types(days)] = np.count_nonzero(counts, axis=0).astype(np.int64)
            out[nm.count_name(nm.ALL_EVENTS, days)] = totals[days] = w.total
            if self.q is not None:
                qty = ExactSums.combine(w.levels + ([] if self.q_rest is None else [self._rest(r, t_day, days)]))
                qslugs = dict(zip(spec.event_types, slugs))
                for j, name in enumerate(spec.quantity_events):
                    out[nm.quantity_name(qslugs[name], days)] = qty[:, j]
            if w.touches is not None:
                touches = w.touches
                for j, s in enumerate(nm.unique_slugs(spec.touch_types)):
                    out[nm.count_name(nm.touch_prefix(s), days)] = touches[j]
                out[nm.count_name(nm.ALL_TOUCHES, days)] = touches.sum(axis=0, dtype=np.int64)
            if days is not None:
                out[nm.active_days(days)] = w.days
        hi = int(grid.edge(t_day))
        lo_of = {days: None if days is None else int(grid.edge(t_day - days)) for days in all_windows}
        if self.breadth is not None:
            for days in spec.windows:
                out[nm.event_types(days)] = self.breadth.window(r, hi, lo_of[days])
        if self.users is not None:
            for days in all_windows:
                out[nm.active_users(days)] = self.users.window(r, hi, lo_of[days])
        trend = spec.trend_days
        recent = (totals[trend] if trend in totals else win(trend).total).astype(np.float64)
        both = (totals[2 * trend] if 2 * trend in totals else win(2 * trend).total).astype(np.float64)
        before = both - recent
        with np.errstate(invalid="ignore", divide="ignore"):
            out[nm.trend(spec.trend_days)] = np.where(both > 0, (recent - before) / np.where(both > 0, both, 1), 0.0)
        last = last_day[r]
        out[nm.DAYS_SINCE_LAST_EVENT] = np.where(last > -10**9, np.int64(t_day) - 1 - last, np.nan)
        created = self.tables.created_us[accounts]
        out[nm.DAYS_SINCE_SIGNUP] = (t_us - created) / DAY_US
        for name, s in zip(spec.key_events, nm.unique_slugs(spec.key_events)):
            first = self.first_key[name][accounts]
            out[nm.days_to_first(s)] = np.where(first < t_us, (first - created) / DAY_US, np.nan)
        for name, limit in spec.plan_limits.items():
            used_name = limit["used"]
            if used_name == "active_users":
                used = out[nm.active_users(None)]
            elif used_name in spec.event_types:
                used = out[nm.count_name(slugs[list(spec.event_types).index(used_name)], None)]
            else:
                used = _count_before(self.tables.events, used_name, accounts, t_us, self.tables.n_accounts)
            cap = pd.to_numeric(self.tables.accounts[limit["limit"]].iloc[accounts], errors="coerce").to_numpy(float)
            out[nm.limit_used(name)] = used
            with np.errstate(invalid="ignore", divide="ignore"):
                out[nm.limit_ratio(name)] = np.where(cap > 0, used / np.where(cap > 0, cap, 1), np.nan)
        return out

    def _rest(self, r: np.ndarray, t_day: int, days: int | None) -> np.ndarray:
        """What no exact quantity level could hold, summed over the window's segments (ExactSums.rest)."""
        hi = int(self.grid.edge(t_day))
        lo = 0 if days is None else int(self.grid.edge(t_day - days)) + 1
        return self.q_rest[r, lo:hi + 1].sum(axis=1)


@dataclass(frozen=True)
class _Totals:
    """Running totals per block row at one instant (or a window: the difference of two)."""

    counts: np.ndarray  # (event codes, rows) int32
    levels: list[np.ndarray]  # exact quantity levels, (rows, quantity columns) float64
    touches: np.ndarray | None  # (touch columns + 1, rows) int32
    days: np.ndarray  # distinct active days, int32

    @property
    def total(self) -> np.ndarray:
        return self.counts.sum(axis=0, dtype=np.int64)

    def compact_copy(self) -> "_Totals":
        """A copy to subtract later, its counts in 1 or 2 bytes when they fit: some twenty saved totals
        are alive at once for a 90-day window over weekly snapshots (~40 % of them at 100 M events).
        Subtracting an unsigned 8/16-bit count from an int32 one stays int32: windows keep their type."""
        return _Totals(_narrow(self.counts), [x.copy() for x in self.levels],
                       None if self.touches is None else _narrow(self.touches), _narrow(self.days))

    def take(self, r: np.ndarray) -> "_Totals":
        return _Totals(self.counts[:, r], [x[r] for x in self.levels],
                       None if self.touches is None else self.touches[:, r], self.days[r])

    def minus(self, earlier: "_Totals") -> "_Totals":
        """The window between ``earlier`` and these totals (both for the same rows)."""
        return _Totals(self.counts - earlier.counts, [x - y for x, y in zip(self.levels, earlier.levels)],
                       None if self.touches is None else self.touches - earlier.touches, self.days - earlier.days)


def _narrow(counts: np.ndarray) -> np.ndarray:
    """A copy of non-negative int32 counts in the smallest unsigned type of at most 16 bits that holds them."""
    top = int(counts.max()) if counts.size else 0
    return counts.astype(np.uint8 if top <= 0xFF else np.uint16 if top <= 0xFFFF else counts.dtype)


def _first_occurrence(log: EventLog, name: str, n_accounts: int) -> np.ndarray:
    """Per account, the first instant of an event type (any time; callers compare it with ``t``)."""
    first = np.full(n_accounts, np.iinfo(np.int64).max, dtype=np.int64)
    code = _code(log, name)
    if code is not None:
        hit = log.kind == code
        np.minimum.at(first, log.account[hit], log.ts[hit])
    return first


def _count_before(log: EventLog, name: str, accounts: np.ndarray, t_us: int, n_accounts: int) -> np.ndarray:
    """Per account, events of a type before ``t`` (for plan limits on a type without its own column)."""
    hit = (log.kind == _code(log, name)) & (log.ts < t_us)
    return np.bincount(log.account[hit], minlength=n_accounts)[accounts]


def _fit_columns_of(tables: Tables, spec: FeatureSpec) -> dict[str, pd.Categorical | np.ndarray]:
    """Every account's fit attributes as the spec types them (cast once, then taken per snapshot)."""
    out: dict[str, pd.Categorical | np.ndarray] = {}
    for col in spec.columns:
        if col.group != "fit":
            continue
        if col.name not in tables.accounts.columns:
            raise DataError("accounts", col.name, "is missing: the feature spec (the model) needs this fit attribute")
        values = tables.accounts[col.name]
        if col.is_categorical:
            out[col.name] = spec.categorize(values, col)
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        unreadable = numbers.isna() & values.notna()
        if unreadable.any():
            example = values[unreadable].iloc[0]
            raise DataError("accounts", col.name, f"should be numeric (the model was trained on numbers) but holds "
                                                  f"{int(unreadable.sum()):,} text values, e.g. {example!r}")
        out[col.name] = numbers.astype("float64").to_numpy()
    return out


_OUTPUT_COLUMNS = frozenset({"account_id", "as_of", "label"})  # beside the features in the tables built here


def build_features(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, progress: bool = False) -> pd.DataFrame:
    """The feature table: one row per eligible account per as-of: ``account_id``, ``as_of``, then the
    spec's columns in order. Rows are ordered by as-of, then by account id."""
    return _build(tables, as_of, spec, progress)[0]


def _build(tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
           progress: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`build_features` and each row's position in ``tables.accounts`` (its account number)."""
    instants = np.array(sorted({to_us(t) if not isinstance(t, (int, np.integer)) else int(t) for t in as_of}),
                        dtype=np.int64)
    clash = [name for name in spec.names if name in _OUTPUT_COLUMNS]
    if clash:
        raise DataError("accounts", clash[0], f"has the name of a column the pipeline writes ({sorted(_OUTPUT_COLUMNS)});"
                                              f" rename it in the data or list it in features.exclude_columns")
    groups = [instants[instants % DAY_US == offset] for offset in np.unique(instants % DAY_US)]
    if not len(instants):
        _fit_columns_of(tables, spec)  # a missing fit attribute is an error whatever the as-of
        return _empty(spec), np.empty(0, dtype=np.int64)
    # Every column is allocated once at its final length and filled snapshot by snapshot: no per-snapshot
    # frames to concatenate (which held the whole table twice).
    sizes = [[len(eligible(tables, int(t))) for t in group] for group in groups]
    n_rows = sum(map(sum, sizes))
    account_rows = np.empty(n_rows, dtype=np.int64)
    generated = [col.name for col in spec.columns if col.group != "fit"]
    columns: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(instants) + 4 * len(groups), desc="features", unit="step",
               disable=None, leave=False) if progress else nullcontext()
    with bar:
        step = (lambda stage: (bar.set_postfix_str(stage), bar.update(1))) if progress else (lambda stage: None)
        fit = _fit_columns_of(tables, spec)
        start = 0
        for group, counts in zip(groups, sizes):
            block = _Block(tables, spec, group, step)
            starts = start + np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            def sink(i: int) -> _Rows:
                return _Rows(columns, generated, int(starts[i]), int(starts[i + 1]), n_rows)

            for i, _ in block.snapshots(sink):
                account_rows[int(starts[i]):int(starts[i + 1])] = block.rows[i]
                step(f"as of {from_us([group[i]])[0]:%Y-%m-%d}")
            start = int(starts[-1])
            del block
    data: dict[str, object] = {
        # taken from the column as it is (Arrow strings): no Python string object per row
        "account_id": tables.accounts["account_id"].array.take(account_rows),
        "as_of": np.repeat(np.concatenate(groups), np.concatenate(sizes).astype(np.int64)).astype("datetime64[us]"),
    }
    for col in spec.columns:
        data[col.name] = fit[col.name][account_rows] if col.group == "fit" else columns[col.name]
    return pd.DataFrame(data, copy=False), account_rows


class _Rows(MutableMapping):
    """One snapshot's rows ``lo:hi`` of the output columns: a column is written there as soon as it is
    computed, so a snapshot's features are never all held twice (at 100 M events, ~300 MiB less peak).
    Values that are not output columns (intermediates read back by later features) are kept aside."""

    def __init__(self, columns: dict[str, np.ndarray], names: Sequence[str], lo: int, hi: int, n_rows: int) -> None:
        self.columns, self.names, self.lo, self.hi, self.n_rows = columns, frozenset(names), lo, hi, n_rows
        self.aside: dict[str, np.ndarray] = {}

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        if name in self.names:
            _put(self.columns, name, np.asarray(values), self.lo, self.hi, self.n_rows)
            self.aside.pop(name, None)
        else:
            self.aside[name] = values

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.aside:
            return self.aside[name]
        if name in self.names and name in self.columns:
            return self.columns[name][self.lo:self.hi]
        raise KeyError(name)

    def __delitem__(self, name: str) -> None:
        raise TypeError("written output rows are not deleted")

    def __iter__(self):
        return iter([*(n for n in self.names if n in self.columns), *self.aside])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _put(columns: dict[str, np.ndarray], name: str, values: np.ndarray, lo: int, hi: int, n_rows: int) -> None:
    """Write one snapshot's values of a column into its full-length array (allocated on first use; widened,
    as a concatenation would, should a later snapshot bring a wider type)."""
    column = columns.get(name)
    if column is None:
        column = columns[name] = np.empty(n_rows, dtype=values.dtype)
    elif column.dtype != values.dtype:
        column = columns[name] = column.astype(np.result_type(column.dtype, values.dtype))
    column[lo:hi] = values


def _empty(spec: FeatureSpec) -> pd.DataFrame:
    data = {"account_id": pd.Series([], dtype="object"), "as_of": pd.Series([], dtype="datetime64[us]")}
    for col in spec.columns:
        data[col.name] = (pd.Categorical([], categories=list(col.categories or ())) if col.is_categorical
                          else pd.Series([], dtype="float64"))
    return pd.DataFrame(data)


def build_training_table(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                         progress: bool = False) -> pd.DataFrame:
    """The feature table plus ``label`` (converts in ``[t, t + horizon)``) for labelled snapshots.

    Callers pass only snapshots whose horizon is over (see :func:`features.snapshots.is_labelled`).
    """
    frame, account_row = _build(tables, as_of, spec, progress)  # rows known: no lookup of a million ids
    as_of_us = frame["as_of"].to_numpy().view("int64")
    converted = tables.converted_us[account_row]
    label = (converted >= as_of_us) & (converted < as_of_us + horizon_days * DAY_US)
    # concat, not assign: the frame is one block per column (no consolidating copy), where an insert warns
    return pd.concat([frame, pd.Series(label.astype(np.int8), index=frame.index, name="label")], axis=1)

