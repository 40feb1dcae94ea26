"""Usage windows: per event type, its events and (where it varies) its quantity in each window; all events.

Columns (see :mod:`features.naming`): ``<event>_count_<w>d|all`` per chosen event type,
``<event>_quantity_<w>d|all`` per chosen type whose quantity varies, ``events_count_<w>d|all``.
Event types are those configured (``features.event_types``) or the most frequent in the reachable rows.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Sequence

import numpy as np

from features import naming as nm
from features.config import FeatureConfig
from features.families.common import code_of, readable, resolve, window_columns
from features.spec import Column
from features.sweep.prefix import ExactSums
from features.sweep.state import Snapshot, Totals
from features.tables import EventLog


def choose_events(seen: Sequence[str], config: FeatureConfig) -> list[str]:
    """The event types with columns: as configured (matched to the names seen), else the
    ``max_event_types`` most frequent of those seen (``seen`` is ordered most frequent first)."""
    if config.event_types is not None:
        return [resolve(e, seen, "features.event_types") for e in config.event_types]
    return list(seen[: config.max_event_types])


def choose_quantity(events: EventLog, chosen: Sequence[str], varied: np.ndarray) -> list[str]:
    """The chosen event types whose quantity is not always 1 in the reachable rows (``varied``: such rows
    per kind code): only they get quantity columns."""
    varies = varied > 0
    return [e for e in chosen if code_of(events, e) is not None and varies[code_of(events, e)]]


def columns(chosen: Sequence[str], quantity: Sequence[str], windows: Sequence[int],
            labels: Mapping[str, str] | None = None) -> list[Column]:
    """The usage columns, in the spec's order: counts per type, quantities per type, then all events; event
    types worded by their own names or their ``labels``."""
    all_windows: list[int | None] = [*windows, None]
    cols: list[Column] = []
    slugs = dict(zip(chosen, nm.unique_slugs(chosen)))
    for event in chosen:
        e = readable(event, labels)
        cols += window_columns(slugs[event], "usage", all_windows, f"'{e}' {{{{value}}}} time{{{{s}}}} {{when}}",
                               f"no '{e}' {{when}}")
    for event in quantity:
        e = readable(event, labels)
        cols += window_columns(slugs[event], "usage", all_windows, f"total quantity of '{e}' {{when}}: {{{{value}}}}",
                               f"no quantity of '{e}' {{when}}", kind="quantity")
    cols += window_columns(nm.ALL_EVENTS, "usage", windows, "{{value}} product action{{s}} {when}",
                           "no activity {when}")
    cols.append(Column(nm.count_name(nm.ALL_EVENTS, None), "count", "usage",
                       "{value} product action{s} since signup", zero="no product activity yet"))
    return cols


def window_values(snap: Snapshot, days: int | None, w: Totals, out: MutableMapping[str, np.ndarray]) -> None:
    """The usage values of one window ``[t - days, t)`` (None: all history) of a snapshot, from its totals ``w``;
    the events of all types are kept in ``snap.totals`` (the activity trend reads them)."""
    counts = w.counts
    for j, s in enumerate(snap.event_slugs):
        if not snap.per_kind:
            out[nm.count_name(s, days)] = counts[j]
        else:
            code = snap.code_of_column[j]
            out[nm.count_name(s, days)] = np.zeros(len(snap.rows), np.int32) if code is None else counts[code]
    out[nm.count_name(nm.ALL_EVENTS, days)] = snap.totals[days] = w.total
    if snap.quantity:
        qty = ExactSums.combine(w.levels + ([] if snap.quantity_rest is None else [_rest(snap, days)]))
        qslugs = dict(zip(snap.spec.event_types, snap.event_slugs))
        for j, name in enumerate(snap.spec.quantity_events):
            out[nm.quantity_name(qslugs[name], days)] = qty[:, j]


def _rest(snap: Snapshot, days: int | None) -> np.ndarray:
    """What no exact quantity level could hold, summed over the window's segments (ExactSums.rest)."""
    lo = 0 if days is None else snap.start(days) + 1
    return snap.quantity_rest[snap.rows, lo:snap.hi + 1].sum(axis=1)
