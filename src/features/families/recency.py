"""Recency: whole days since the last active day, and days since signup.

Columns: ``days_since_last_event`` (0: active in the last 24 hours; empty when never active) and
``days_since_signup``.
"""
from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np

from features import naming as nm
from features.spec import Column
from features.sweep.state import Snapshot
from features.windows import DAY_US


def columns() -> list[Column]:
    """The recency columns, in the spec's order."""
    return [Column(nm.DAYS_SINCE_LAST_EVENT, "days", "usage", "last active {value} day{s} ago",
                   missing="no product activity yet", zero="active in the last 24 hours"),
            Column(nm.DAYS_SINCE_SIGNUP, "days", "usage", "signed up {value} day{s} ago",
                   zero="signed up less than a day ago")]


def values(snap: Snapshot, out: MutableMapping[str, np.ndarray]) -> None:
    """A snapshot's days since the last active day bucket (counted back from ``t``) and since signup."""
    last = snap.last_day[snap.rows]
    out[nm.DAYS_SINCE_LAST_EVENT] = np.where(last > -10**9, np.int64(snap.t_day) - 1 - last, np.nan)
    out[nm.DAYS_SINCE_SIGNUP] = (snap.t_us - snap.created) / DAY_US
