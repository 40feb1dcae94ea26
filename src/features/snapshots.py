"""Snapshots: the as-of grid, who is eligible at each instant, and the label.

* eligible at ``t``: created before ``t`` and not converted before ``t``;
* label at ``t``: converts in ``[t, t + horizon)``;
* a snapshot is labelled only when ``t + horizon <= data_end`` (its horizon is over).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import LabelConfig, SnapshotConfig
from features.tables import Tables
from features.windows import DAY_US, to_timestamp, to_us


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
