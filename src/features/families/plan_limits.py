"""Plan limits: how close an account is to a limit of its plan (``features.plan_limits``).

Each limit names what is used (an event type, or ``active_users``) and the numeric fit attribute that
holds the cap (an accounts column, or an attribute of ``account_attributes`` read as it was at the as-of).
Columns: ``<limit>_used`` (the count since signup) and ``<limit>_used_ratio`` (count / cap, empty when the
cap is unknown or not positive).
"""
from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Sequence

import numpy as np

from features import naming as nm
from features.asof import numbers_at
from features.config import FeatureConfig
from features.errors import ConfigError
from features.families.common import code_of, readable, resolve, template_safe
from features.spec import Column
from features.sweep.state import Snapshot
from features.tables import EventLog


def choose(config: FeatureConfig, seen: Sequence[str], has_users: bool, fit_columns: Sequence[Column],
           dropped: Sequence[str]) -> dict[str, dict[str, str]]:
    """The configured limits, checked: each cap a numeric fit column, each use an event type (matched to the
    names seen) or ``active_users`` (which needs user ids); ConfigError otherwise."""
    numeric_fit = {c.name for c in fit_columns if not c.is_categorical}
    plan_limits: dict[str, dict[str, str]] = {}
    for name, limit in (config.plan_limits or {}).items():
        used, cap = limit.get("used"), limit.get("limit")
        if cap not in numeric_fit:
            why = (" (it was dropped: excluded or identifier-like, see features.exclude_columns and "
                   "features.id_like_share)" if cap in dropped else "")
            raise ConfigError(f"features.plan_limits.{name}.limit: '{cap}' is not a numeric fit attribute{why} "
                              f"(numeric fit columns: {sorted(numeric_fit)})")
        if used == "active_users":
            if not has_users:
                raise ConfigError(f"features.plan_limits.{name}.used: active_users needs a user_id column in events")
        else:
            used = resolve(str(used), seen, f"features.plan_limits.{name}.used")
        plan_limits[name] = {"used": str(used), "limit": str(cap)}
    return plan_limits


def columns(plan_limits: dict[str, dict[str, str]], labels: Mapping[str, str] | None = None) -> list[Column]:
    """Two columns per limit: what is used, and its share of the cap (worded by its name or its ``labels``).

    >>> [c.name for c in columns({"seats": {"used": "active_users", "limit": "seat_limit"}})]
    ['seats_used', 'seats_used_ratio']
    """
    cols = []
    for name in plan_limits:
        label = readable(name, labels)
        safe = template_safe(label)
        cols.append(Column(nm.limit_used(name), "count", "plan", f"{safe} used: {{value}}", zero=f"no {label} used"))
        cols.append(Column(nm.limit_ratio(name), "ratio", "plan", f"{safe}: {{value}} of the plan limit used",
                           missing=f"{label}: plan limit unknown"))
    return cols


def values(snap: Snapshot, out: MutableMapping[str, np.ndarray]) -> None:
    """A snapshot's plan-limit values; what is used is read back from the usage and activity values in ``out``
    when it has a column there (they are computed first)."""
    spec, tables = snap.spec, snap.tables
    for name, limit in spec.plan_limits.items():
        used_name = limit["used"]
        if used_name == "active_users":
            used = out[nm.active_users(None)]
        elif used_name in spec.event_types:
            used = out[nm.count_name(snap.event_slugs[list(spec.event_types).index(used_name)], None)]
        else:
            used = _count_before(tables.events, used_name, snap.accounts, snap.t_us, tables.n_accounts)
        cap = numbers_at(tables, limit["limit"], snap.accounts, snap.t_us)  # the cap as it was at t
        out[nm.limit_used(name)] = used
        with np.errstate(invalid="ignore", divide="ignore"):
            out[nm.limit_ratio(name)] = np.where(cap > 0, used / np.where(cap > 0, cap, 1), np.nan)


def _count_before(log: EventLog, name: str, accounts: np.ndarray, t_us: int, n_accounts: int) -> np.ndarray:
    """Per account, events of a type before ``t`` (for plan limits on a type without its own column)."""
    hit = (log.kind == code_of(log, name)) & (log.ts < t_us)
    return np.bincount(log.account[hit], minlength=n_accounts)[accounts]
