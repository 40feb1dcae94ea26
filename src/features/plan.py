"""Planning: which columns a build makes, decided from the rows that can reach a feature.

``plan_features`` reads only the rows that can reach a feature at or before the newest as-of
(:func:`features.snapshots.reachable`): rows after it, or after an account's conversion, change no column.
It counts those rows per event (and touch) type; each family (:mod:`features.families`) then chooses and
words its own columns, and the spec lists them in the families' order (which defines the table).
"""
from __future__ import annotations

import numpy as np

from features.config import FeatureConfig
from features.families import activity, fit, key_events, people, plan_limits, recency, touches, usage
from features.families.common import warn_unknown_labels
from features.snapshots import reach_limits
from features.spec import FeatureSpec
from features.tables import EventLog, Tables
from features.windows import instant_us

_CHUNK = 1 << 20  # log rows per step of the count: its temporaries stay small and in cache


def reachable_kinds(tables: Tables, log: EventLog | None, before_us: int,
                    quantity: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Per kind code, the log's reachable rows (see :func:`features.snapshots.reachable`) and, with
    ``quantity``, those of them whose quantity is not 1. Counted a million rows at a time: at 100 M events
    a whole-log mask, gather and float weights made the plan's peak 1.6 GiB above the tables."""
    if log is None:
        return np.zeros(0, np.int64), None
    n_kinds = len(log.names)
    limit = reach_limits(tables, before_us)
    counts = np.zeros(n_kinds, dtype=np.int64)
    varied = np.zeros(n_kinds, dtype=np.int64) if quantity else None
    for i in range(0, len(log), _CHUNK):
        reach = log.ts[i:i + _CHUNK] < limit[log.account[i:i + _CHUNK]]
        kinds = log.kind[i:i + _CHUNK]
        counts += np.bincount(np.compress(reach, kinds), minlength=n_kinds)
        if varied is not None:
            reach &= log.quantity[i:i + _CHUNK] != 1.0
            varied += np.bincount(np.compress(reach, kinds), minlength=n_kinds)
    return counts, varied


def kinds_before(log: EventLog | None, counts: np.ndarray) -> list[str]:
    """Kind names with reachable rows (``counts`` per kind code), most frequent first (ties by name).

    >>> kinds_before(EventLog.empty(("b", "a", "c")), np.array([2, 2, 0]))
    ['a', 'b']
    """
    if log is None:
        return []
    order = sorted((-int(n), name) for name, n in zip(log.names, counts) if n > 0)
    return [name for _, name in order]


def plan_features(tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
    """The feature spec for a build whose newest as-of is ``as_of_max``, from the rows that can reach
    a feature at or before it only (see :func:`features.snapshots.reachable`): rows after ``as_of_max`` or
    after an account's conversion change no column. ``key_events``/``plan_limits`` of None mean none."""
    t = instant_us(as_of_max)
    events = tables.events
    with_quantity = config.quantity and events.quantity is not None
    counts, varied = reachable_kinds(tables, events, t, quantity=with_quantity)
    seen = kinds_before(events, counts)
    chosen = usage.choose_events(seen, config)
    quantity = usage.choose_quantity(events, chosen, varied) if with_quantity else []
    touch_types = touches.choose(kinds_before(tables.touches, reachable_kinds(tables, tables.touches, t)[0]), config)
    keys = key_events.choose(seen, config)
    has_users = events.user is not None  # the schema decides, not the rows (rows after t must not matter)
    windows = tuple(config.windows)

    labels = config.labels or {}
    cols = [*usage.columns(chosen, quantity, windows, labels),
            *activity.columns(windows, has_users, config.trend_days, one_type=len(seen) == 1),
            *recency.columns(), *key_events.columns(keys, labels),
            *touches.columns(touch_types, windows, tables.touches is not None, labels)]
    buyers = people.persona(tables, config)
    cols += people.columns(tables.users is not None, buyers, has_users)
    fit_cols, dropped = fit.columns(tables, t, config)
    limits = plan_limits.choose(config, seen, has_users, fit_cols, dropped)
    cols += plan_limits.columns(limits, labels)
    fit.check_names(fit_cols, cols)
    warn_unknown_labels(labels, [*seen, *chosen, *touch_types, *keys, *tables.fit_columns, *limits])
    return FeatureSpec(windows=windows, event_types=tuple(chosen), quantity_events=tuple(quantity),
                       touch_types=tuple(touch_types), key_events=tuple(keys), has_users=has_users,
                       trend_days=config.trend_days, plan_limits=limits,
                       columns=tuple(cols + fit_cols), dropped_columns=dropped, labels=dict(labels), buyers=buyers)
