"""Activity: active days, active users, breadth (distinct event types) and the trend of all events.

Columns (see :mod:`features.naming`): ``active_days_<w>d``, ``active_users_<w>d|all`` (when the events
name users), ``event_types_<w>d`` and ``events_trend_<n>d``: (last n days - the n before) / both, 0 when idle.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Sequence

import numpy as np

from features import naming as nm
from features.families.common import when
from features.spec import Column
from features.sweep.state import Snapshot, Totals


def columns(windows: Sequence[int], has_users: bool, trend_days: int, one_type: bool = False) -> list[Column]:
    """The activity columns, in the spec's order: active days, active users, event types, trend. With ``one_type``
    (the data has a single event type) the number of event types only says whether the account was active.

    >>> [c.name for c in columns((7,), has_users=False, trend_days=7)]
    ['active_days_7d', 'event_types_7d', 'events_trend_7d']
    >>> columns((7,), has_users=False, trend_days=7, one_type=True)[1].text
    'active in the last 7 days'
    """
    cols = []
    for days in windows:
        cols.append(Column(nm.active_days(days), "count", "usage", f"active on {{value}} of the last {days} days",
                           zero=f"not active in the last {days} days"))
    if has_users:
        for days in [*windows, None]:
            cols.append(Column(nm.active_users(days), "count", "usage", f"{{value}} user{{s}} active {when(days)}",
                               zero="no users active yet" if days is None else f"no users active {when(days)}"))
    for days in windows:
        text = (f"active in the last {days} days" if one_type
                else f"{{value}} different product action{{s}} in the last {days} days")
        cols.append(Column(nm.event_types(days), "count", "usage", text, zero=f"not active in the last {days} days"))
    n = trend_days
    cols.append(Column(nm.trend(n), "ratio", "usage", f"activity trend {{value}} (last {n} days vs the {n} before)",
                       zero=f"activity flat (last {n} days vs the {n} before)"))
    return cols


def window_values(snap: Snapshot, days: int | None, w: Totals, out: MutableMapping[str, np.ndarray]) -> None:
    """The active days of one window of a snapshot, and its event types when the counts are per kind
    (the distinct types are then the non-zero counts)."""
    if days is None:
        return
    if snap.per_kind:
        out[nm.event_types(days)] = np.count_nonzero(w.counts, axis=0).astype(np.int64)
    out[nm.active_days(days)] = w.days


def values(snap: Snapshot, out: MutableMapping[str, np.ndarray]) -> None:
    """A snapshot's distinct event types (unless counted per window), active users and trend."""
    spec = snap.spec
    if snap.breadth is not None:
        for days in spec.windows:
            out[nm.event_types(days)] = snap.breadth.window(snap.rows, snap.hi, snap.start(days))
    if snap.users is not None:
        for days in [*spec.windows, None]:
            out[nm.active_users(days)] = snap.users.window(snap.rows, snap.hi, snap.start(days))
    trend = spec.trend_days
    recent = snap.events_in(trend).astype(np.float64)
    both = snap.events_in(2 * trend).astype(np.float64)
    before = both - recent
    with np.errstate(invalid="ignore", divide="ignore"):
        out[nm.trend(spec.trend_days)] = np.where(both > 0, (recent - before) / np.where(both > 0, both, 1), 0.0)
