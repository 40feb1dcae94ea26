"""The output tables of the demo world: the arrays the generator drew, named and stamped as the contract's
input tables show them (accounts, events, conversions, touches, account_attributes), quirks applied on the way
out."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from demo.activity import EVENT_TYPES, TOUCH_TYPES
from demo.config import US_PER_DAY, DemoConfig, origin
from demo.firmographics import COUNTRIES, FUNDING, INDUSTRIES, ROLES, USE_CASES
from demo.people import TITLES

SINGLE_EVENT = "activity"  # the one event name of a single_event world
EXTERNAL_ID_STREAM = 2  # the external ids' own random stream, so that the other tables stay the same


def string_column(names: Sequence[str] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """Look codes up in names through Arrow: fast and compact for tens of millions of rows."""
    arr = pa.array(np.asarray(names, dtype=object), type=pa.string()).take(pa.array(codes))
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def account_ids(n: int) -> np.ndarray:
    """acc_000000, acc_000001, ...: n ids in signup order, zero-padded to one width so they sort as they number."""
    width = max(6, len(str(n - 1)))
    return np.array([f"acc_{i:0{width}d}" for i in range(n)], dtype=object)


def _external_ids(cfg: DemoConfig, n: int) -> pd.Series:
    """16 random hex digits per account, all distinct: the id-like column of a CRM export."""
    rng = np.random.default_rng([cfg.seed, EXTERNAL_ID_STREAM])
    while True:  # a repeat among 2**64 values is all but impossible, but the ids must be unique
        hexes = np.frombuffer(rng.bytes(8 * n).hex().encode("ascii"), dtype="S16").astype(str)
        if len(np.unique(hexes)) == n:
            return string_column(hexes.astype(object), np.arange(n))


def _stamp(cfg: DemoConfig, us: np.ndarray) -> np.ndarray:
    """Microseconds since the start as naive-UTC datetime64[us]."""
    return np.datetime64(origin(cfg).to_datetime64(), "us") + us.astype("timedelta64[us]")


def _clock(cfg: DemoConfig, us: np.ndarray) -> np.ndarray:
    """Microseconds since the start as the tables record them: at 00:00 of their (UTC) day under day_resolution."""
    if not cfg.day_resolution:
        return us
    start = origin(cfg)
    into_day = (start - start.normalize()) // pd.Timedelta(microseconds=1)
    return (us + into_day) // US_PER_DAY * US_PER_DAY - into_day


def _time_order(us: np.ndarray, acc: np.ndarray, n_accounts: int) -> np.ndarray:
    """Permutation sorting rows by timestamp, then account (one int64 key when it fits: 3x faster)."""
    shifted = us - us.min(initial=0)
    if (int(shifted.max(initial=0)) + 1) * n_accounts < 2**63:
        return np.argsort(shifted * n_accounts + acc, kind="stable")
    return np.lexsort((acc, us))


def account_frame(cfg: DemoConfig, ids: np.ndarray, acc: dict[str, np.ndarray],
                  today: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Accounts in id (= signup) order: id, signup, then the optional external id and firmographics; ``today``
    holds the latest values of the attributes with a history (plan, seat limit, employees), which replace the
    signup values."""
    frame = {"account_id": string_column(ids, np.arange(len(ids))),
             "created_at": _stamp(cfg, _clock(cfg, acc["created_us"]))}
    if cfg.id_column:
        frame["external_id"] = _external_ids(cfg, len(ids))
    if cfg.fit_columns:
        frame |= {
            "industry": string_column(list(INDUSTRIES), acc["industry"]), "employees": acc["employees"],
            "country": string_column(list(COUNTRIES), acc["country"]),
            "funding_stage": string_column(list(FUNDING), acc["funding"]),
            "signup_role": string_column(list(ROLES), acc["role"]),
            "use_case": string_column(USE_CASES, acc["use_case"]),
            "seat_limit": acc["seat_limit"].astype(np.int64),
            "plan": string_column(["free", "trial"], acc["trial"].astype(np.int64))}
        if today is not None:
            plans, codes = np.unique(today["plan"].astype(str), return_inverse=True)
            frame |= {"employees": today["employees"].astype(np.int64), "seat_limit": today["seat_limit"].astype(np.int64),
                      "plan": string_column(plans.astype(object), codes)}
    return pd.DataFrame(frame)


def attribute_frame(cfg: DemoConfig, ids: np.ndarray, history: dict[str, np.ndarray],
                    names: Sequence[str]) -> pd.DataFrame:
    """The attribute history: account, attribute (a code into ``names``), value as text, valid from its day; of
    two changes that the clock puts at one instant (day_resolution), the later one (rows come in time order)."""
    us = _clock(cfg, np.round(history["day"] * US_PER_DAY).astype(np.int64))
    acc, attr = history["account"], history["attribute"]
    keep = np.r_[(acc[1:] != acc[:-1]) | (attr[1:] != attr[:-1]) | (us[1:] != us[:-1]), True]
    return pd.DataFrame({"account_id": string_column(ids, acc[keep]), "attribute": string_column(names, attr[keep]),
                         "value": string_column(history["value"][keep], np.arange(int(keep.sum()))),
                         "valid_from": _stamp(cfg, us[keep])})


def conversion_frame(cfg: DemoConfig, ids: np.ndarray, buyers: np.ndarray, conv_us: np.ndarray,
                     amount: np.ndarray) -> pd.DataFrame:
    """The recorded conversions: all, or under labels_after_days only those from start + N days on."""
    if cfg.labels_after_days is not None:
        recorded = conv_us >= cfg.labels_after_days * US_PER_DAY
        buyers, conv_us, amount = buyers[recorded], conv_us[recorded], amount[recorded]
    return pd.DataFrame({"account_id": string_column(ids, buyers), "converted_at": _stamp(cfg, _clock(cfg, conv_us)),
                         "amount": amount.astype(np.float64)})


def event_frame(cfg: DemoConfig, ids: np.ndarray, team_total: np.ndarray, a: np.ndarray, etype: np.ndarray,
                ts: np.ndarray, user: np.ndarray, qty: np.ndarray) -> pd.DataFrame:
    """Events sorted by timestamp then account, with user ids like acc_000123_u0."""
    ts = _clock(cfg, ts)
    order = _time_order(ts, a, len(ids))
    names = EVENT_TYPES
    if cfg.single_event:  # quantity 1.0 too: api_call's quantities would give the hidden type away
        names, etype, qty = (SINGLE_EVENT,), np.zeros_like(etype), np.ones(len(a))
    frame = {"account_id": string_column(ids, a[order]), "event": string_column(names, etype[order]),
             "timestamp": _stamp(cfg, ts[order])}
    if cfg.user_ids:
        totals = team_total.astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(totals)[:-1]])
        k = np.arange(int(totals.sum())) - np.repeat(offsets, totals)
        user_names = np.strings.add(np.strings.add(np.repeat(ids.astype(str), totals), "_u"), k.astype(str))
        frame["user_id"] = string_column(user_names.astype(object), (offsets[a] + user)[order])
    frame["quantity"] = qty[order]
    return pd.DataFrame(frame)


def user_frame(cfg: DemoConfig, ids: np.ndarray, people: dict[str, np.ndarray]) -> pd.DataFrame:
    """The users, by account then join instant: ids like the events' (acc_000123_u0), the account, when they
    joined, their title and role (the signer-up is the workspace's admin)."""
    order = np.lexsort((people["k"], people["account"]))
    account, k = people["account"][order], people["k"][order]
    user_ids = np.strings.add(np.strings.add(ids[account].astype(str), "_u"), k.astype(str))
    return pd.DataFrame({"user_id": string_column(user_ids.astype(object), np.arange(len(order))),
                         "account_id": string_column(ids, account),
                         "created_at": _stamp(cfg, _clock(cfg, people["joined_us"][order])),
                         "title": string_column(TITLES, people["title"][order]),
                         "role": string_column(["member", "admin"], (k == 0).astype(np.int64))})


def touch_frame(cfg: DemoConfig, ids: np.ndarray, a: np.ndarray, ttype: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    """Touches sorted by timestamp then account."""
    ts = _clock(cfg, ts)
    order = _time_order(ts, a, len(ids))
    return pd.DataFrame({"account_id": string_column(ids, a[order]),
                         "touch": string_column(TOUCH_TYPES, ttype[order]), "timestamp": _stamp(cfg, ts[order])})
