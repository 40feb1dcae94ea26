"""Key events: days from signup to the first event of each configured type (``features.key_events``).

Columns: ``days_to_first_<event>``, empty while the account has no such event before ``t``.
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Sequence

import numpy as np

from features import naming as nm
from features.config import FeatureConfig
from features.families.common import code_of, readable, resolve
from features.spec import Column
from features.sweep.state import Snapshot
from features.tables import EventLog
from features.windows import DAY_US


def choose(seen: Sequence[str], config: FeatureConfig) -> list[str]:
    """The configured key events, matched to the event names seen in the reachable rows."""
    return [resolve(k, seen, "features.key_events") for k in (config.key_events or ())]


def columns(keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[Column]:
    """One ``days_to_first_<event>`` column per key event (worded by its own name or its ``labels``).

    >>> [c.name for c in columns(["Upgrade Clicked"])]
    ['days_to_first_upgrade_clicked']
    """
    cols = []
    key_slugs = dict(zip(keys, nm.unique_slugs(keys)))
    for event in keys:
        name = readable(event, labels)
        cols.append(Column(nm.days_to_first(key_slugs[event]), "days", "usage",
                           f"first '{name}' {{value}} day{{s}} after signup", missing=f"no '{name}' yet",
                           zero=f"first '{name}' less than a day after signup"))
    return cols


def first_instants(log: EventLog, name: str, n_accounts: int) -> np.ndarray:
    """Per account, the first instant of an event type (any time; callers compare it with ``t``)."""
    first = np.full(n_accounts, np.iinfo(np.int64).max, dtype=np.int64)
    code = code_of(log, name)
    if code is not None:
        hit = log.kind == code
        np.minimum.at(first, log.account[hit], log.ts[hit])
    return first


def values(snap: Snapshot, out: MutableMapping[str, np.ndarray]) -> None:
    """A snapshot's days to the first key events (from ``snap.first_key``, the first instants)."""
    for name, s in zip(snap.spec.key_events, nm.unique_slugs(snap.spec.key_events)):
        first = snap.first_key[name][snap.accounts]
        out[nm.days_to_first(s)] = np.where(first < snap.t_us, (first - snap.created) / DAY_US, np.nan)
