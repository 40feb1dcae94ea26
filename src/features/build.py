"""The one function that makes the feature table, for training (many snapshots) and scoring (one).

``plan_features`` decides the columns from the rows that can reach a feature at or before the
newest as-of (never from later rows, nor from an account's rows after its conversion);
``build_features`` computes them for every eligible account at every as-of, in one shared pass
over the events (:mod:`features.rollup`). Every value at ``t`` reads only rows before ``t``.
"""
from __future__ import annotations

import difflib
import logging
import re
from contextlib import nullcontext
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import naming as nm
from .config import FeatureConfig
from .errors import ConfigError, DataError
from .rollup import ExactSums, LastSeen, active_day_prefix, prefix_counts, window
from .snapshots import eligible
from .spec import OTHER, Column, FeatureSpec
from .tables import EventLog, Tables
from .windows import DAY_US, SegmentGrid, from_us, to_us

log = logging.getLogger("pql")

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
    account = log_.account
    created, converted = tables.created_us[account], tables.converted_us[account]
    return np.maximum(log_.ts, created) < np.minimum(converted, before_us)


def _kinds_before(log_: EventLog | None, keep: np.ndarray | None) -> list[str]:
    """Kind names among the rows ``keep`` (all rows when None), most frequent first (ties by name)."""
    if log_ is None or len(log_) == 0:
        return []
    kinds = log_.kind if keep is None else log_.kind[keep]
    counts = np.bincount(kinds, minlength=len(log_.names))
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
    reach = _reachable(tables, events, t)
    seen = _kinds_before(events, reach)
    if config.event_types is not None:
        chosen = [_resolve(e, seen, "features.event_types") for e in config.event_types]
    else:
        chosen = seen[: config.max_event_types]
    quantity = []
    if config.quantity and events.quantity is not None:
        varies = np.zeros(len(events.names), dtype=bool)
        np.logical_or.at(varies, events.kind[reach], events.quantity[reach] != 1.0)
        quantity = [e for e in chosen if _code(events, e) is not None and varies[_code(events, e)]]
    touch_reach = _reachable(tables, tables.touches, t) if tables.touches is not None else None
    touches = _kinds_before(tables.touches, touch_reach)[: config.max_event_types]
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


class _Block:
    """The prefix arrays of one group of snapshots that share a time of day."""

    def __init__(self, tables: Tables, spec: FeatureSpec, as_of_us: np.ndarray, step) -> None:
        self.spec, self.tables = spec, tables
        spans = [*spec.windows, spec.trend_days, 2 * spec.trend_days]
        self.grid = grid = SegmentGrid.build(as_of_us, spans)
        self.rows = [eligible(tables, int(t)) for t in as_of_us]
        union = np.unique(np.concatenate(self.rows)) if self.rows else np.empty(0, np.int64)
        self.n = n = len(union)
        self.row_of = np.full(tables.n_accounts, -1, dtype=np.int64)
        self.row_of[union] = np.arange(n)
        n_segs = grid.n_segments

        ev = tables.events
        day = grid.day_of(ev.ts)
        seg = grid.segment_of_day(day)
        row = self.row_of[ev.account]
        keep = (seg >= 0) & (row >= 0)
        row, seg, day, kind = row[keep], seg[keep], day[keep], ev.kind[keep]
        # Each event type with a column gets its own code; the rest share one code, counted in totals only.
        self.col_of_kind = np.full(len(ev.names) + 1, len(spec.event_types), dtype=np.int64)
        for i, name in enumerate(spec.event_types):
            code = _code(ev, name)
            if code is not None:
                self.col_of_kind[code] = i
        step("events")
        self.counts = prefix_counts(row, seg, self.col_of_kind[kind], (n, n_segs, len(spec.event_types) + 1))
        self.total = self.counts.sum(axis=2, dtype=np.int64)
        self.quantity = None
        if spec.quantity_events and ev.quantity is not None:
            qcol = np.full(len(ev.names) + 1, -1, dtype=np.int64)
            for i, name in enumerate(spec.quantity_events):
                if _code(ev, name) is not None:
                    qcol[_code(ev, name)] = i
            q = qcol[kind]
            has = q >= 0
            # exact window sums: a huge old quantity cannot erase a small recent one (rollup.ExactSums)
            self.quantity = ExactSums.build(row[has], seg[has], q[has], (n, n_segs, len(spec.quantity_events)),
                                            ev.quantity[keep][has])
        step("users and breadth")
        self.users = None
        if spec.has_users:
            user = ev.user[keep]
            named = user != 0
            self.users = LastSeen.build(row[named], user[named], seg[named], n, n_segs)
        self.breadth = LastSeen.build(row, kind, seg, n, n_segs)
        step("active days")
        self.active_days, self.last_day = active_day_prefix(row, day, grid, n)
        del row, seg, day, kind
        step("touches")
        self.touches = None
        if tables.touches is not None:
            tl = tables.touches
            tseg = grid.segment_of_day(grid.day_of(tl.ts))
            trow = self.row_of[tl.account]
            tkeep = (tseg >= 0) & (trow >= 0)
            tcol = np.full(len(tl.names) + 1, len(spec.touch_types), dtype=np.int64)
            for i, name in enumerate(spec.touch_types):
                if _code(tl, name) is not None:
                    tcol[_code(tl, name)] = i
            self.touches = prefix_counts(trow[tkeep], tseg[tkeep], tcol[tl.kind[tkeep]],
                                         (n, n_segs, len(spec.touch_types) + 1))
        self.first_key = {name: _first_occurrence(ev, name, tables.n_accounts) for name in spec.key_events}

    def snapshot(self, i: int) -> dict[str, np.ndarray]:
        """Every generated (non-fit) feature of snapshot ``i``, for its eligible accounts."""
        spec, grid = self.spec, self.grid
        accounts = self.rows[i]
        r = self.row_of[accounts]
        t_us = self.grid.anchor_us + int(grid.snapshot_days[i]) * DAY_US
        out: dict[str, np.ndarray] = {}
        all_windows: list[int | None] = [*spec.windows, None]
        slugs = nm.unique_slugs(spec.event_types)
        for days in all_windows:
            counts = window(self.counts, grid, i, days, r)
            for j, s in enumerate(slugs):
                out[nm.count_name(s, days)] = counts[:, j]
            out[nm.count_name(nm.ALL_EVENTS, days)] = window(self.total, grid, i, days, r)
            if self.quantity is not None:
                qty = self.quantity.window(grid, i, days, r)
                qslugs = dict(zip(spec.event_types, slugs))
                for j, name in enumerate(spec.quantity_events):
                    out[nm.quantity_name(qslugs[name], days)] = qty[:, j]
            if self.touches is not None:
                touches = window(self.touches, grid, i, days, r)
                for j, s in enumerate(nm.unique_slugs(spec.touch_types)):
                    out[nm.count_name(nm.touch_prefix(s), days)] = touches[:, j]
                out[nm.count_name(nm.ALL_TOUCHES, days)] = touches.sum(axis=1, dtype=np.int64)
        for days in spec.windows:
            out[nm.active_days(days)] = window(self.active_days, grid, i, days, r)
        breadth = self.breadth.counts(grid, i, list(spec.windows), self.n)
        for days in spec.windows:
            out[nm.event_types(days)] = breadth[days][r]
        if self.users is not None:
            users = self.users.counts(grid, i, all_windows, self.n)
            for days in all_windows:
                out[nm.active_users(days)] = users[days][r]
        recent = window(self.total, grid, i, spec.trend_days, r).astype(np.float64)
        both = window(self.total, grid, i, 2 * spec.trend_days, r).astype(np.float64)
        before = both - recent
        with np.errstate(invalid="ignore", divide="ignore"):
            out[nm.trend(spec.trend_days)] = np.where(both > 0, (recent - before) / np.where(both > 0, both, 1), 0.0)
        t_day = int(grid.snapshot_days[i])
        last = self.last_day[r, grid.edge(t_day)]
        out[nm.DAYS_SINCE_LAST_EVENT] = np.where(last > -10**9, t_day - 1 - last, np.nan)
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
    instants = np.array(sorted({to_us(t) if not isinstance(t, (int, np.integer)) else int(t) for t in as_of}),
                        dtype=np.int64)
    clash = [name for name in spec.names if name in _OUTPUT_COLUMNS]
    if clash:
        raise DataError("accounts", clash[0], f"has the name of a column the pipeline writes ({sorted(_OUTPUT_COLUMNS)});"
                                              f" rename it in the data or list it in features.exclude_columns")
    frames = []
    bar = tqdm(total=len(instants) + 4 * len(np.unique(instants % DAY_US)), desc="features", unit="step",
               disable=None, leave=False) if progress else nullcontext()
    with bar:
        step = (lambda stage: (bar.set_postfix_str(stage), bar.update(1))) if progress else (lambda stage: None)
        fit = _fit_columns_of(tables, spec)
        for offset in np.unique(instants % DAY_US):
            group = instants[instants % DAY_US == offset]
            block = _Block(tables, spec, group, step)
            for i, t in enumerate(group):
                accounts = block.rows[i]
                values = block.snapshot(i)
                data = {"account_id": tables.accounts["account_id"].to_numpy()[accounts],
                        "as_of": np.full(len(accounts), t).astype("datetime64[us]")}
                for col in spec.columns:
                    if col.group != "fit":
                        data[col.name] = values[col.name]
                for name, values in fit.items():
                    data[name] = values[accounts]
                frames.append(pd.DataFrame(data))
                step(f"as of {from_us([t])[0]:%Y-%m-%d}")
    if not frames:
        return _empty(spec)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return out[["account_id", "as_of", *spec.names]]


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
    frame = build_features(tables, as_of, spec, progress=progress)
    account_row = pd.Index(tables.accounts["account_id"]).get_indexer(frame["account_id"])
    as_of_us = frame["as_of"].to_numpy().view("int64")
    converted = tables.converted_us[account_row]
    label = (converted >= as_of_us) & (converted < as_of_us + horizon_days * DAY_US)
    return frame.assign(label=label.astype(np.int8))

