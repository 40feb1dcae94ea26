"""Snapshots: the as-of grid, who is eligible at each instant, and the label.

* eligible at ``t``: created before ``t`` and not converted before ``t``;
* label at ``t``: converts in ``[t, t + horizon)``;
* a snapshot is labelled only when ``t + horizon <= data_end`` (its horizon is over).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import LabelConfig, SnapshotConfig
from .tables import Tables
from .windows import DAY_US, to_timestamp, to_us


def eligible(tables: Tables, as_of_us: int) -> np.ndarray:
    """Row numbers of the accounts eligible at ``as_of_us``, in account order."""
    mask = (tables.created_us < as_of_us) & (tables.converted_us >= as_of_us)
    return np.flatnonzero(mask)


def labels(tables: Tables, rows: np.ndarray, as_of_us: int, horizon_days: int) -> np.ndarray:
    """1 where the account converts in ``[t, t + horizon)``, else 0."""
    converted = tables.converted_us[rows]
    return ((converted >= as_of_us) & (converted < as_of_us + horizon_days * DAY_US)).astype(np.int8)


def data_end_us(tables: Tables, label: LabelConfig) -> int:
    """The instant the data ends (exclusive): configured, or just after the newest row."""
    return to_us(label.data_end) if label.data_end else tables.data_end_us


def is_labelled(as_of_us: int, horizon_days: int, end_us: int) -> bool:
    """True when the label horizon of a snapshot is over (``t + horizon <= end``)."""
    return as_of_us + horizon_days * DAY_US <= end_us


def grid(tables: Tables, snapshots: SnapshotConfig, label: LabelConfig) -> list[pd.Timestamp]:
    """The training grid: 00:00 UTC on ``weekday`` every ``every_days`` days, newest last.

    From the first grid day ``min_history_days`` after the earliest account (or ``first``) to the
    newest grid day whose label horizon is over (or ``last``); at most ``max_snapshots``, newest kept.
    """
    end = data_end_us(tables, label)
    if snapshots.last:
        last = to_timestamp(snapshots.last)
    else:
        latest = pd.Timestamp(end - label.horizon_days * DAY_US, unit="us").floor("D")
        last = latest - pd.Timedelta(days=(latest.weekday() - snapshots.weekday) % 7)
    if snapshots.first:
        first = to_timestamp(snapshots.first)
    else:
        start = pd.Timestamp(int(tables.created_us.min()), unit="us").ceil("D")
        first = start + pd.Timedelta(days=snapshots.min_history_days)
    if last < first:
        return []
    step = pd.Timedelta(days=snapshots.every_days)
    n = int((last - first) // step)
    out = [last - i * step for i in range(n + 1)][::-1]
    if snapshots.max_snapshots:
        out = out[-int(snapshots.max_snapshots):]
    return [t.as_unit("us") for t in out]
