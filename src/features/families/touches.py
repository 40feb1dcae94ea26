"""Touches: marketing touches per touch type in each window, and all touches.

Columns: ``touch_<touch>_count_<w>d|all`` for the most frequent touch types in the reachable rows, and
``touches_count_<w>d|all`` whenever the data has a touches table.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Sequence

import numpy as np

from features import naming as nm
from features.config import FeatureConfig
from features.families.common import readable, window_columns
from features.spec import Column
from features.sweep.state import Snapshot, Totals


def choose(seen: Sequence[str], config: FeatureConfig) -> list[str]:
    """The touch types with columns: the ``max_event_types`` most frequent of those seen."""
    return list(seen[: config.max_event_types])


def columns(touch_types: Sequence[str], windows: Sequence[int], has_touches: bool,
            labels: Mapping[str, str] | None = None) -> list[Column]:
    """The touch columns, in the spec's order: per touch type (worded by its own name or its ``labels``), then
    all touches (when there is a touches table).

    >>> [c.name for c in columns(["Webinar"], [7], has_touches=True)]
    ['touch_webinar_count_7d', 'touch_webinar_count_all', 'touches_count_7d', 'touches_count_all']
    """
    all_windows: list[int | None] = [*windows, None]
    cols: list[Column] = []
    touch_slugs = dict(zip(touch_types, nm.unique_slugs(touch_types)))
    for touch in touch_types:
        name = readable(touch, labels)
        cols += window_columns(nm.touch_prefix(touch_slugs[touch]), "touch", all_windows,
                               f"'{name}' {{{{value}}}} time{{{{s}}}} {{when}}", f"no '{name}' {{when}}")
    if has_touches:
        cols += window_columns(nm.ALL_TOUCHES, "touch", all_windows,
                               "touched by marketing {{value}} time{{s}} {when}", "no marketing touch {when}")
    return cols


def window_values(snap: Snapshot, days: int | None, w: Totals, out: MutableMapping[str, np.ndarray]) -> None:
    """The touches of one window of a snapshot, per touch type and in all (when there is a touches table)."""
    if w.touches is None:
        return
    touches = w.touches
    for j, s in enumerate(nm.unique_slugs(snap.spec.touch_types)):
        out[nm.count_name(nm.touch_prefix(s), days)] = touches[j]
    out[nm.count_name(nm.ALL_TOUCHES, days)] = touches.sum(axis=0, dtype=np.int64)
