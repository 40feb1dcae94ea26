"""Contacts: the few people of an account a sales rep should talk to, as of ``t``.

Of the users who joined before ``t``, decision makers (the buyer persona, :mod:`features.families.people`)
come first, then the most active in the last 30 days, then the most recently active; each is named with
its title and the day it was last active, e.g.
``acc_000042_u3 (VP of Sales, decision maker, last active 2024-05-03); acc_000042_u0 (Product Manager, ...)``.
Only rows before ``t`` are read: a user who joins or acts at or after ``t`` changes nothing.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.families.people import BUYERS, is_buyer, lookup
from features.tables import Tables, Users
from features.windows import DAY_US, from_us

RECENT_DAYS = 30  # "most active recently": events in the last 30 days
TITLE = "title"  # the users column named beside each contact, when the table has it


def persona_of(tables: Tables, buyers: Mapping[str, str] | None) -> dict[str, str]:
    """The persona contacts rank by: the model's (``buyers``), else the default one on the columns there are."""
    if buyers:
        return dict(buyers)
    have = set(tables.users.attributes.columns) if tables.users is not None else set()
    return {c: p for c, p in BUYERS.items() if c in have}


def contacts(tables: Tables, accounts: np.ndarray, t_us: int, buyers: Mapping[str, str] | None = None,
             n: int = 3) -> pd.Series | None:
    """Per account row in ``accounts``, its ``n`` contacts as text (missing: no user had joined before ``t``);
    None when the data has no users table."""
    users = tables.users
    if users is None:
        return None
    wanted = np.zeros(tables.n_accounts, dtype=bool)
    wanted[accounts] = True
    pick = np.flatnonzero((users.created_us < t_us) & wanted[users.account])
    recent, last = _activity(tables, users.user[pick], users.account[pick], t_us)
    persona = persona_of(tables, buyers)
    buyer = is_buyer(users.attributes.iloc[pick], persona) if persona else np.zeros(len(pick), dtype=bool)
    account = users.account[pick]
    # account, then decision makers first, most events lately, latest activity, earliest to join (ties: by the
    # user id's hash, so the order never depends on the table's row order)
    order = np.lexsort((users.user[pick], users.created_us[pick], -last, -recent, ~buyer, account))
    account = account[order]
    kept = np.arange(len(order)) - np.searchsorted(account, account, side="left") < n  # the first n of each
    top, owner = order[kept], account[kept]
    text = _words(users, pick[top], buyer[top], last[top])
    # one list per account that has contacts (their rows are consecutive), joined by Arrow, then looked up
    firsts = np.flatnonzero(np.r_[len(owner) > 0, owner[1:] != owner[:-1]]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(np.r_[firsts, len(owner)].astype(np.int32)), text)
    at = pd.Index(owner[firsts]).get_indexer(accounts)
    joined = pc.binary_join(lists, "; ").take(pa.array(np.maximum(at, 0))) if len(firsts) else pa.nulls(len(at))
    return pd.Series(pd.array(joined, dtype="string")).where(at >= 0, pd.NA)


def _activity(tables: Tables, user: np.ndarray, account: np.ndarray, t_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user (hashes ``user`` in accounts ``account``): events in the last ``RECENT_DAYS`` days before ``t``
    and the instant of the last event before ``t`` (-1: none), counting the user's events in its own account."""
    ev = tables.events
    recent = np.zeros(len(user), dtype=np.int64)
    last = np.full(len(user), -1, dtype=np.int64)
    if ev.user is None or not len(user):
        return recent, last
    before = np.flatnonzero(ev.ts < t_us)
    at = lookup(user, ev.user[before])
    hit = at >= 0
    rows, who = before[hit], at[hit]
    own = ev.account[rows] == account[who]
    rows, who = rows[own], who[own]
    np.maximum.at(last, who, ev.ts[rows])
    recent += np.bincount(who[ev.ts[rows] >= t_us - RECENT_DAYS * DAY_US], minlength=len(user))
    return recent, last


def _words(users: Users, rows: np.ndarray, buyer: np.ndarray, last: np.ndarray) -> pa.Array:
    """Each contact as a rep reads it: ``id (title, decision maker, last active 2024-05-03)`` (Arrow text:
    vectorised, a million accounts' contacts in well under a second)."""
    ids = pa.array(users.ids.iloc[rows].astype("string").to_numpy(dtype=object, na_value=""), pa.string())
    titles = (pc.utf8_trim_whitespace(pa.array(users.attributes[TITLE].iloc[rows].astype("string").to_numpy(
        dtype=object, na_value=""), pa.string())) if TITLE in users.attributes.columns
        else pa.array([""] * len(rows), pa.string()))
    titled = pc.if_else(pc.equal(titles, ""), titles, pc.binary_join_element_wise(titles, ", ", ""))
    role = pa.array(np.where(buyer, "decision maker, ", ""), pa.string())
    day = pa.array(np.where(last >= 0, "last active " + from_us(np.maximum(last, 0)).strftime("%Y-%m-%d"),
                            "not active yet").astype(object), pa.string())
    return pc.binary_join_element_wise(ids, " (", titled, role, day, ")", "")
