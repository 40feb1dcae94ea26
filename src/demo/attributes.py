"""The demo world's attribute history (``account_attributes``): plan, seat limit and headcount as they were.

Every account starts with its signup values (a row at ``created_at``); a trial falls back to the free plan when
its 14 days end; some companies grow (a few more people, at any time); an account that converts moves to the
paid plan with a larger seat limit, and most converted companies grow afterwards, a lot: the "as today" leak a
model would learn if it read today's values at past snapshots. The ``accounts`` table shows today's values, the
latest of each history. Drawn from a random stream of its own, so every other table stays the same.
"""

from __future__ import annotations

import numpy as np

from demo.config import DemoConfig

ATTRIBUTE_STREAM = 3  # apart from the main stream, the stale pool's (1) and the external ids' (2)
TRIAL_DAYS = 14
PAID_SEAT_LIMIT = 50
GROWS, GROWS_AFTER_CONVERTING = 0.35, 0.6  # shares of accounts whose headcount grows (after converting)
ATTRIBUTES = ("plan", "seat_limit", "employees")


def draw_history(cfg: DemoConfig, acc: dict[str, np.ndarray], converted: np.ndarray) -> dict[str, np.ndarray]:
    """The history rows (``account``, ``attribute`` as a code into ATTRIBUTES, ``day`` since the start, ``value``
    as text), ordered by account, attribute and day, and ``today``: each attribute's latest value per account.

    ``converted`` is each account's real conversion day (inf: never within the period).
    """
    rng = np.random.default_rng([cfg.seed, ATTRIBUTE_STREAM])
    n, days, created = len(acc["created"]), float(cfg.days), acc["created"]
    end = np.minimum(converted, days)
    trial = acc["trial"].astype(bool)
    plan_parts = [(np.arange(n), created, np.where(trial, "trial", "free"))]
    ends = trial & (created + TRIAL_DAYS < end)
    plan_parts.append((np.flatnonzero(ends), created[ends] + TRIAL_DAYS, np.full(int(ends.sum()), "free")))
    paid = np.flatnonzero(converted < days)
    plan_parts.append((paid, converted[paid], np.full(len(paid), "paid")))
    seat_parts = [(np.arange(n), created, acc["seat_limit"].astype(np.int64).astype(str)),
                  (paid, converted[paid], np.full(len(paid), str(PAID_SEAT_LIMIT)))]
    employees = acc["employees"].astype(np.float64)
    grows = np.flatnonzero((rng.random(n) < GROWS) & (created < end))
    grows_at = created[grows] + rng.random(len(grows)) * (end[grows] - created[grows])  # before any conversion
    grown = employees.copy()
    grown[grows] = np.round(employees[grows] * np.exp(np.abs(rng.normal(0.25, 0.2, len(grows))))) + 1
    late = paid[rng.random(len(paid)) < GROWS_AFTER_CONVERTING]
    late_at = converted[late] + rng.random(len(late)) * (days - converted[late])
    later = np.round(grown[late] * rng.uniform(1.5, 4.0, len(late)))
    staff_parts = [(np.arange(n), created, employees.astype(np.int64).astype(str)),
                   (grows, grows_at, grown[grows].astype(np.int64).astype(str)),
                   (late, late_at, later.astype(np.int64).astype(str))]
    return _rows([plan_parts, seat_parts, staff_parts], n)


def _rows(parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]], n: int) -> dict[str, np.ndarray]:
    """The rows of every attribute, sorted by account, attribute and day (ties: the order of the parts), and each
    attribute's latest value per account (``today``)."""
    account, attribute, day, value = [], [], [], []
    for code, pieces in enumerate(parts):
        for acc, when, text in pieces:
            account.append(acc)
            attribute.append(np.full(len(acc), code))
            day.append(when)
            value.append(np.asarray(text, dtype=object))
    account, attribute, day, value = (np.concatenate(x) for x in (account, attribute, day, value))
    order = np.lexsort((day, attribute, account))
    account, attribute, day, value = account[order], attribute[order], day[order], value[order]
    # two changes on one day of one attribute: the later one wins (a trial that converts on its last day is paid)
    keep = np.r_[(account[1:] != account[:-1]) | (attribute[1:] != attribute[:-1]) | (day[1:] != day[:-1]), True]
    account, attribute, day, value = account[keep], attribute[keep], day[keep], value[keep]
    last = np.r_[(account[1:] != account[:-1]) | (attribute[1:] != attribute[:-1]), True]
    today = {}
    for code, name in enumerate(ATTRIBUTES):
        hit = last & (attribute == code)
        latest = np.empty(n, dtype=object)
        latest[account[hit]] = value[hit]
        today[name] = latest
    return {"account": account, "attribute": attribute, "day": day, "value": value, "today": today}
