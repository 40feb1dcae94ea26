"""Contacts: decision makers first, then the most active lately, with title and last activity; point in time."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.contacts import contacts
from features.data.load import load_frames
from features.windows import instant_us

T = pd.Timestamp("2024-03-01")


def _world(users: pd.DataFrame, events: pd.DataFrame) -> dict:
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "users": users}


USERS = pd.DataFrame({
    "user_id": ["a_eng", "a_busy", "a_vp", "a_idle", "a_late", "b_one"],
    "account_id": ["a", "a", "a", "a", "a", "b"],
    "created_at": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04", "2024-03-01", "2024-01-05"]),
    "title": ["Engineer", "Designer", "VP Sales", "Analyst", "CEO", None]})
EVENTS = pd.DataFrame({
    "account_id": ["a", "a", "a", "a", "a", "a", "b", "a"],
    "event": ["x"] * 8,
    "timestamp": pd.to_datetime(["2024-02-20", "2024-02-25", "2024-02-26", "2024-02-27", "2024-01-10", "2024-02-10",
                                 "2024-02-01", "2024-03-05"]),
    "user_id": ["a_eng", "a_busy", "a_busy", "a_busy", "a_vp", "a_late", "b_one", "a_idle"]})


def _contacts(users=USERS, events=EVENTS, n=3) -> list:
    tables, _ = load_frames(_world(users, events))
    return contacts(tables, np.arange(tables.n_accounts), instant_us(T), n=n).tolist()


def test_decision_makers_first_then_the_most_active_recently() -> None:
    a, b, c = _contacts()
    assert a == ("a_vp (VP Sales, decision maker, last active 2024-01-10); "
                 "a_busy (Designer, last active 2024-02-27); a_eng (Engineer, last active 2024-02-20)")
    assert b == "b_one (last active 2024-02-01)"
    assert c is pd.NA or pd.isna(c)  # no users: no contacts


def test_users_and_events_at_or_after_t_change_no_contact() -> None:
    later_users = pd.concat([USERS, pd.DataFrame({"user_id": ["c_new"], "account_id": ["c"], "created_at": [T],
                                                  "title": ["Owner"]})], ignore_index=True)
    later_events = pd.concat([EVENTS, pd.DataFrame({"account_id": ["a"] * 3, "event": ["x"] * 3,
                                                    "timestamp": [T, T, T], "user_id": ["a_idle"] * 3})])
    assert _contacts(later_users, later_events) == _contacts()


def test_the_number_of_contacts_is_a_parameter_and_idle_users_say_so() -> None:
    a = _contacts(n=5)[0]
    assert a.count(";") == 3 and "a_idle (Analyst, not active yet)" in a and "a_late" not in a


def test_before_anyone_joined_every_account_has_no_contacts() -> None:
    tables, _ = load_frames(_world(USERS, EVENTS))
    assert contacts(tables, np.arange(3), instant_us(pd.Timestamp("2023-12-01"))).isna().all()
    assert contacts(tables, np.array([], dtype=np.int64), instant_us(T)).empty
