"""Planning on the driver: ``features.plan.plan_features`` over a compact event log.

Planning reads, per event (or touch) type, how many rows can reach a feature at or before the as-of (it
orders the types by that count, ties by name, and keeps the top ones) and whether their quantity varies.
The compact log gives each type with reachable rows as many rows as its *dense rank* by that count (same
order, same ties), all reachable (one eligible account, at its creation), and a quantity of 2 on one row of
the types whose quantity varies. Accounts are the real ones. So ``plan_features`` decides exactly what it
decides on the full tables, from kilobytes; the parity tests hold it to that.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshots import can_be_eligible
from features.tables import EventLog, Tables

from engines.spark.tables import SparkState


def compact_log(reach: pd.DataFrame, names: tuple[str, ...], tables: Tables, t: int, user: bool,
                quantity: bool) -> EventLog:
    """A log whose reachable rows before ``t`` rank the types as ``reach`` (kind, n, varies) does."""
    names = tuple(dict.fromkeys([*names, *reach["kind"].tolist()]))
    present = reach[reach["n"] > 0]
    eligible = np.flatnonzero(can_be_eligible(tables, t))
    if present.empty or not len(eligible):
        empty = EventLog.empty(names)
        return EventLog(empty.account, empty.kind, empty.ts, names, np.empty(0, np.uint64) if user else None,
                        np.empty(0, np.float64) if quantity else None)
    rank = present["n"].rank(method="dense").astype(int).to_numpy()
    codes = np.array([names.index(k) for k in present["kind"]], dtype=np.int32)
    kind = np.repeat(codes, rank)
    first = np.concatenate([[0], np.cumsum(rank)[:-1]])
    qty = np.ones(len(kind))
    qty[first[present["varies"].to_numpy(dtype=bool)]] = 2.0
    k = int(eligible[0])
    return EventLog(np.full(len(kind), k, np.int32), kind, np.full(len(kind), tables.created_us[k], np.int64), names,
                    np.zeros(len(kind), np.uint64) if user else None, qty if quantity else None)


def planning_tables(tables: Tables, state: SparkState, reach: dict[str, pd.DataFrame], t: int) -> Tables:
    """Plain ``Tables`` for ``plan_features`` at ``t``: the driver's accounts with compact logs."""
    events = compact_log(reach["events"], state.names.get("events", ()), tables, t, state.has_user,
                         state.has_quantity)
    touches = (compact_log(reach["touches"], state.names.get("touches", ()), tables, t, False, False)
               if state.has_touches and "touches" in reach else None)
    if state.has_touches and touches is None:
        touches = EventLog.empty(state.names.get("touches", ()))
    return Tables(accounts=tables.accounts, created_us=tables.created_us, converted_us=tables.converted_us,
                  events=events, touches=touches, fit_columns=tables.fit_columns, data_end_us=tables.data_end_us,
                  conversions=tables.conversions, users=tables.users, attributes=tables.attributes)
