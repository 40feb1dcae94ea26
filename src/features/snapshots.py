"""Snapshots: the as-of grid, who is eligible at each instant, which rows can reach a feature, and the label.

* eligible at ``t``: created before ``t`` and not converted before ``t``;
* a row (event or touch) of account ``a`` at ``ts`` is in a feature at ``t`` iff ``ts < t`` and ``a`` is
  eligible at ``t``; it *reaches* a feature at some as-of ``s <= t`` iff
  ``max(ts, created[a]) < min(t, converted[a])`` (stated here once, for both engines);
* label at ``t``: converts in ``[t, t + horizon)``;
* a snapshot is labelled only when ``t + horizon <= data_end`` (its horizon is over);
* first looks: between two grid snapshots, each account is also looked at on the first midnight after its
  signup, so an account that converts in its first days is seen before it converts (:func:`first_looks`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import LabelConfig, SnapshotConfig
from features.tables import EventLog, Tables
from features.windows import DAY_US, to_timestamp, to_us


def eligible(tables: Tables, as_of_us: int, max_age_us: int | None = None) -> np.ndarray:
    """Row numbers of the accounts eligible at ``as_of_us``, in account order; with ``max_age_us``, only
    those created at most that long before it (``as_of - max_age <= created``)."""
    mask = (tables.created_us < as_of_us) & (tables.converted_us >= as_of_us)
    if max_age_us is not None:
        mask &= tables.created_us >= as_of_us - int(max_age_us)
    return np.flatnonzero(mask)


def can_be_eligible(tables: Tables, before_us: int) -> np.ndarray:
    """Per account: eligible at some as-of ``s <= before_us`` (created before ``s``, not converted
    before ``s``), i.e. ``created < min(before_us, converted)``."""
    return tables.created_us < np.minimum(tables.converted_us, before_us)


def reachable(tables: Tables, log: EventLog, before_us: int) -> np.ndarray:
    """Per row of an event log: can it reach a feature at some as-of ``s <= before_us``?

    A row of account ``a`` at ``ts`` is in a feature at ``s`` iff ``ts < s`` and ``a`` is eligible
    at ``s`` (``created[a] < s <= converted[a]``); such an ``s`` exists iff
    ``max(ts, created[a]) < min(before_us, converted[a])``. Rows after the newest as-of or after
    the account's conversion are never reachable, so they can change no column choice.

    >>> from features.tables import NEVER
    >>> tables = Tables(pd.DataFrame({"account_id": ["a", "b"]}), created_us=np.array([0, 0]),
    ...                 converted_us=np.array([50, NEVER]), events=EventLog.empty(), touches=None,
    ...                 fit_columns=(), data_end_us=200)
    >>> log = EventLog(np.array([0, 0, 1, 1]), np.zeros(4, np.int32), np.array([10, 60, 60, 100]), ("x",))
    >>> reachable(tables, log, 100).tolist()  # a after its conversion; b at the as-of itself
    [True, False, True, False]
    >>> start, ok = reach_start(tables, log)  # the same rule, as the instant each row starts to reach
    >>> (ok & (start < 100)).tolist()
    [True, False, True, False]
    """
    return log.ts < reach_limits(tables, before_us)[log.account]


def reach_limits(tables: Tables, before_us: int) -> np.ndarray:
    """Per account, the instant a row must precede to be reachable (the smallest int64: none is)."""
    # max(ts, created) < limit  <=>  ts < limit and created < limit: one gather per row, not two
    limit = np.minimum(tables.converted_us, before_us)
    return np.where(tables.created_us < limit, limit, np.iinfo(np.int64).min)


def reach_start(tables: Tables, log: EventLog) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the instant from which it can reach a feature, ``max(ts, created)``, and whether it can at
    all (before the account's conversion). A row reaches a feature at some as-of ``<= t`` iff it can and its
    start is before ``t`` (the rule of :func:`reachable`, in a form that sums per day for any ``t``)."""
    start = np.maximum(log.ts, tables.created_us[log.account])
    return start, start < tables.converted_us[log.account]


def reach_day(start_us: np.ndarray | int) -> np.ndarray | int:
    """The UTC day (since the epoch) of reach starts (:func:`reach_start`): for an as-of ``t`` at midnight
    UTC, a row reaches a feature at some as-of ``<= t`` iff it can and ``reach_day(start) < reach_day(t)``."""
    return start_us // DAY_US


def labels(tables: Tables, rows: np.ndarray, as_of_us: int | np.ndarray, horizon_days: int) -> np.ndarray:
    """1 where the account (of each row number) converts in ``[t, t + horizon)``, else 0 (int8); ``as_of_us``
    is one instant or one per row."""
    converted = tables.converted_us[rows]
    return ((converted >= as_of_us) & (converted < as_of_us + horizon_days * DAY_US)).astype(np.int8)


def data_end_us(tables: Tables, label: LabelConfig) -> int:
    """The instant the data ends (exclusive): configured, or just after the newest row."""
    return to_us(label.data_end) if label.data_end else tables.data_end_us


def is_labelled(as_of_us: int, horizon_days: int, end_us: int) -> bool:
    """True when the label horizon of a snapshot is over (``t + horizon <= end``)."""
    return as_of_us + horizon_days * DAY_US <= end_us


def grid(tables: Tables, snapshots: SnapshotConfig, label: LabelConfig) -> list[pd.Timestamp]:
    """The as-of grid: 00:00 UTC on ``weekday`` every ``every_days`` days, oldest first.

    It ends at the newest grid day before the data ends (or ``last``), labelled or not: snapshots
    whose horizon is not over still serve as recent populations (tier sizing, health). It starts
    ``min_history_days`` after the earliest account and once ``start_share`` of the accounts exist
    (or at ``first``), so one stray early account cannot stretch it. At most ``max_snapshots``, newest kept.
    """
    end = data_end_us(tables, label)
    if snapshots.last:
        last = to_timestamp(snapshots.last)
    else:
        latest = pd.Timestamp(end - 1, unit="us").floor("D")
        last = latest - pd.Timedelta(days=(latest.weekday() - snapshots.weekday) % 7)
    if snapshots.first:
        first = to_timestamp(snapshots.first)
    else:
        created = np.sort(tables.created_us)
        earliest = pd.Timestamp(int(created[0]), unit="us").ceil("D") + pd.Timedelta(days=snapshots.min_history_days)
        share = min(max(snapshots.start_share, 0.0), 1.0)
        mass = pd.Timestamp(int(created[min(int(np.ceil(share * len(created))), len(created) - 1)]), unit="us")
        first = max(earliest, mass.floor("D") + pd.Timedelta(days=1))
    if last < first:
        return []
    step = pd.Timedelta(days=snapshots.every_days)
    n = int((last - first) // step)
    out = [last - i * step for i in range(n + 1)][::-1]
    if snapshots.max_snapshots:
        out = out[-int(snapshots.max_snapshots):]
    return [t.as_unit("us") for t in out]


def labelled(snapshots: list[pd.Timestamp], horizon_days: int, end_us: int) -> list[pd.Timestamp]:
    """The snapshots whose label horizon is over."""
    return [t for t in snapshots if is_labelled(to_us(t), horizon_days, end_us)]


FIRST_LOOK_AGE_US = DAY_US  # a first look sees the accounts created in the day before it: its first midnight


def first_looks(tables: Tables, times: list[pd.Timestamp], snapshots: SnapshotConfig, end_us: int,
                horizon_days: int) -> dict[pd.Timestamp, pd.Timestamp]:
    """The first-look instants and the grid snapshot (window) each belongs to: every midnight strictly between
    a grid snapshot and the next (or ``every_days`` after the newest), before the data ends, on which some
    account has its first midnight (created in the day before). An account is looked at there, at
    :data:`FIRST_LOOK_AGE_US`, only; so each account is in a window at most once: at its first midnight, or at
    the grid snapshot. In a labelled snapshot's window, only looks whose own horizon is over (so every row of a
    labelled window is labelled).

    >>> from features.config import SnapshotConfig
    >>> from features.tables import NEVER
    >>> created = np.array([to_us(t) for t in ("2024-01-01 10:00", "2024-01-03 08:00", "2024-01-08 09:00")])
    >>> tables = Tables(pd.DataFrame({"account_id": ["a", "b", "c"]}), created_us=created,
    ...                 converted_us=np.full(3, NEVER), events=EventLog.empty(), touches=None, fit_columns=(),
    ...                 data_end_us=to_us("2024-03-01"))
    >>> looks = first_looks(tables, [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")], SnapshotConfig(),
    ...                     to_us("2024-03-01"), 30)
    >>> {str(k.date()): str(v.date()) for k, v in looks.items()}  # each first midnight -> its window
    {'2024-01-02': '2024-01-01', '2024-01-04': '2024-01-01', '2024-01-09': '2024-01-08'}
    """
    span = int(snapshots.every_days) - 1
    if not snapshots.first_look or span < 1 or not times:
        return {}
    first_midnight = (tables.created_us // DAY_US + 1) * DAY_US  # the look that sees an account first
    days = np.unique(first_midnight)
    out: dict[pd.Timestamp, pd.Timestamp] = {}
    for t in times:
        start = to_us(t)
        end = end_us - horizon_days * DAY_US + 1 if is_labelled(start, horizon_days, end_us) else end_us
        inside = days[(days > start) & (days <= start + span * DAY_US) & (days < end)]
        out.update({pd.Timestamp(int(d), unit="us"): t for d in inside})
    return out
