"""People: who is in the account (the optional ``users`` table) and whether its buyers use the product.

Columns, when the data has a users table: ``users_count`` (users who joined before ``t``) and, for the buyer
persona (``features.buyers``: a regular expression per users column, a user matching any of them is a buyer;
default :data:`BUYERS`, job titles of decision makers in several languages), ``buyers_count`` and, when the
events name their users, ``buyer_active_7d`` / ``buyer_active_30d`` (1 when a buyer who had joined before
``t`` did anything in ``[t - 7 days, t)``, resp. 30 days). The users active in each window are the activity
family's ``active_users_<w>d``. A user counts from ``created_at`` on: users who join at or after ``t``, and
their rows, reach no value at ``t``.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.errors import ConfigError, DataError
from features.spec import Column, FeatureSpec
from features.sweep.state import Snapshot
from features.tables import Tables, Users
from features.windows import DAY_US

log = logging.getLogger("pql")

# Decision makers' titles: VP / head / director / founder / owner / C-level / president, in English, French,
# German, Spanish, Portuguese, Dutch and Japanese. A whole word must match ("Head of Sales", not "headcount").
BUYERS: dict[str, str] = {"title": (
    r"(?i)(\b(vp|svp|evp|vice[ -]president|head|director|directora|directeur|directrice|diretor|diretora|direktor"
    r"|direktorin|leiter|leiterin|geschäftsführer|geschäftsführerin|vorstand|gerente general|jefe|jefa|founder"
    r"|co-?founder|fondateur|fondatrice|gründer|gründerin|oprichter|fundador|fundadora|owner|propriétaire"
    r"|inhaber|inhaberin|eigenaar|dueño|dueña|sócio|president|président|présidente|presidente|pdg|gérant|gérante"
    r"|chief|c[a-z]o|managing partner)\b|社長|部長|取締役|代表)")}
BUYER_WINDOWS = (7, 30)  # days: a buyer active this week, this month
USERS, BUYERS_COUNT = "users_count", "buyers_count"


def buyer_active(days: int) -> str:
    """The column saying a buyer was active in the last ``days`` days.

    >>> buyer_active(7)
    'buyer_active_7d'
    """
    return f"buyer_active_{days}d"


def persona(tables: Tables, config: FeatureConfig) -> dict[str, str]:
    """The buyer persona of a build: ``features.buyers`` (each column must be in the users table, each pattern
    a valid regular expression: ConfigError otherwise), or :data:`BUYERS` on the columns the table has."""
    if tables.users is None:
        return {}
    have = set(tables.users.attributes.columns)
    if config.buyers is None:
        chosen = {c: p for c, p in BUYERS.items() if c in have}
        if not chosen:
            log.warning("users: no %s column, so no buyer persona (set features.buyers={column: regex})",
                        " or ".join(BUYERS))
        return chosen
    for column, pattern in config.buyers.items():
        if column not in have:
            raise ConfigError(f"features.buyers.{column}: the users table has no column '{column}' "
                              f"(its columns: {sorted(have)})")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"features.buyers.{column}: {pattern!r} is not a regular expression ({exc})") from exc
    return dict(config.buyers)


def columns(has_users_table: bool, buyers: Mapping[str, str], events_name_users: bool) -> list[Column]:
    """The people columns, in the spec's order.

    >>> [c.name for c in columns(True, {"role": "admin"}, events_name_users=True)]
    ['users_count', 'buyers_count', 'buyer_active_7d', 'buyer_active_30d']
    >>> [c.name for c in columns(True, {}, events_name_users=True)]
    ['users_count']
    """
    if not has_users_table:
        return []
    cols = [Column(USERS, "count", "people", "{value} user{s} in the account", zero="no users yet")]
    if buyers:
        cols.append(Column(BUYERS_COUNT, "count", "people", "{value} decision maker{s} among the users",
                           zero="no decision maker among the users"))
        if events_name_users:
            cols += [Column(buyer_active(d), "count", "usage", f"a decision maker active in the last {d} days",
                            zero=f"no decision maker active in the last {d} days") for d in BUYER_WINDOWS]
    return cols


def is_buyer(attributes: pd.DataFrame, buyers: Mapping[str, str]) -> np.ndarray:
    """Per user, whether any of the persona's columns matches its pattern (searched anywhere in the text).
    Each distinct value is matched once: titles repeat, users run into millions.

    >>> is_buyer(pd.DataFrame({"title": ["VP Sales", "Engineer", None, "Directrice marketing"]}), BUYERS).tolist()
    [True, False, False, True]
    """
    hit = np.zeros(len(attributes), dtype=bool)
    for column, pattern in buyers.items():
        if column not in attributes.columns:
            raise DataError("users", column, "is missing: the buyer persona (features.buyers, or the model's) reads it")
        codes, distinct = pd.factorize(attributes[column].astype("string"))
        regex = re.compile(pattern)
        matched = np.array([bool(regex.search(str(v))) for v in distinct] + [False], dtype=bool)
        hit |= matched[codes]  # code -1 (missing) reads the last entry: False
    return hit


@dataclass(frozen=True)
class People:
    """What a pass needs for the people columns: each user's account and join instant, the same for the buyers,
    and the buyers' events (in a window before some as-of of the pass) with their buyer's join instant. Nothing
    is sorted: a snapshot masks them (a sort of millions of users cost more than the masks of a year of weekly
    snapshots); the events are sliced instead when the log is in time order, as logs usually are."""

    account: np.ndarray  # int32, per user
    joined: np.ndarray  # int64
    buyer_account: np.ndarray
    buyer_joined: np.ndarray
    event_ts: np.ndarray | None  # buyers' events (None: the events name no users)
    event_account: np.ndarray | None
    event_joined: np.ndarray | None  # the instant the event's buyer joined
    in_time_order: bool = False  # event_ts is sorted


def prepare(tables: Tables, spec: FeatureSpec, as_of_us: np.ndarray) -> People | None:
    """The people state of a pass over the as-ofs ``as_of_us`` (None: the spec has no people columns)."""
    if USERS not in spec.names:
        return None
    users = tables.users
    if users is None:
        raise DataError("users", None, "is missing: the feature spec (the model) has people features")
    buyer = is_buyer(users.attributes, spec.buyers) if spec.buyers else np.zeros(len(users), dtype=bool)
    events = _buyer_events(tables, users, buyer, as_of_us) if buyer_active(7) in spec.names else (None, None, None)
    ordered = events[0] is not None and bool(np.all(events[0][1:] >= events[0][:-1]))
    return People(users.account, users.created_us, users.account[buyer], users.created_us[buyer], *events,
                  in_time_order=ordered)


def _buyer_events(tables: Tables, users: Users, buyer: np.ndarray,
                  as_of_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events of buyers in their own account that fall in a buyer window of some as-of, in the log's order:
    their instants, accounts and their buyer's join instant."""
    ev = tables.events
    if ev.user is None or not len(as_of_us):
        raise DataError("events", "user_id", "is missing: the feature spec (the model) has buyer activity features")
    lo, hi = int(as_of_us.min()) - max(BUYER_WINDOWS) * DAY_US, int(as_of_us.max())
    near = np.flatnonzero((ev.ts >= lo) & (ev.ts < hi))
    at = lookup(users.user[buyer], ev.user[near])
    hit = at >= 0
    rows, user = near[hit], np.flatnonzero(buyer)[at[hit]]
    own = ev.account[rows] == users.account[user]
    rows, user = rows[own], user[own]
    return ev.ts[rows], ev.account[rows], users.created_us[user]


def lookup(hashes: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Per value of ``probe``, its position in ``hashes`` (-1: not there), by a hash table (a sort of tens of
    millions of event hashes was slower). Two user ids with one 64-bit hash (~1e-19 a pair): the first wins.

    >>> lookup(np.array([5, 7, 5], np.uint64), np.array([7, 5, 9], np.uint64)).tolist()
    [1, 0, -1]
    """
    index = pd.Index(hashes)
    if index.is_unique:
        return index.get_indexer(probe)
    first = np.flatnonzero(~index.duplicated())
    at = index[first].get_indexer(probe)
    return np.where(at >= 0, first[at], -1)


def values(snap: Snapshot, out: MutableMapping[str, np.ndarray]) -> None:
    """A snapshot's people values: users and buyers who joined before ``t``, buyers active in each window."""
    people: People | None = snap.people
    if people is None:
        return
    t, n, accounts = snap.t_us, snap.tables.n_accounts, snap.accounts
    out[USERS] = _joined_before(people.account, people.joined, t, n)[accounts]
    if BUYERS_COUNT in snap.spec.names:
        out[BUYERS_COUNT] = _joined_before(people.buyer_account, people.buyer_joined, t, n)[accounts]
    if people.event_ts is None:
        return
    for days in BUYER_WINDOWS:
        start = t - days * DAY_US
        if people.in_time_order:
            lo, hi = np.searchsorted(people.event_ts, [start, t], side="left")
            counted = people.event_account[lo:hi][people.event_joined[lo:hi] < t]
        else:
            ts = people.event_ts
            counted = people.event_account[(ts >= start) & (ts < t) & (people.event_joined < t)]
        out[buyer_active(days)] = (np.bincount(counted, minlength=n)[accounts] > 0).astype(np.int64)


def _joined_before(account: np.ndarray, joined: np.ndarray, t: int, n: int) -> np.ndarray:
    """Per account (all ``n``), how many of these users joined before ``t``."""
    return np.bincount(account[joined < t], minlength=n).astype(np.int64)
