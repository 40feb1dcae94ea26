"""The users table: mapped like the others, read whole; bad rows are one-line errors, never set aside."""
from __future__ import annotations


import pandas as pd
import pytest

from features.config import DataConfig
from features.data.load import load_frames
from features.errors import DataError
from tests.conftest import error_lines, run_features, tiny_folder


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _users(**overrides):
    base = {"user_id": ["u1", "u2"], "account_id": ["a", "a"], "created_at": [ts("2024-01-02"), ts("2024-01-03")],
            "title": ["VP Sales", "Engineer"]}
    base.update(overrides)
    return pd.DataFrame(base)


def _error(make_frames, users, config=None) -> DataError:
    with pytest.raises(DataError) as info:
        load_frames({**make_frames(), "users": users}, config)
    return info.value


def test_users_are_read_with_their_own_columns_and_the_events_hash(make_frames):
    tables, report = load_frames({**make_frames(), "users": _users()})
    users = tables.users
    assert report.rows_read["users"] == 2 and list(users.ids) == ["u1", "u2"]
    assert list(users.attributes.columns) == ["title"] and list(users.attributes["title"]) == ["VP Sales", "Engineer"]
    # an event's user is found by the same 64-bit hash (the event is u1's)
    assert int(users.user[0]) == int(tables.events.user[0]) != int(users.user[1])
    assert load_frames(make_frames())[0].users is None  # the table is optional


def test_users_columns_are_mapped_like_the_other_tables(make_frames):
    users = _users().rename(columns={"user_id": "uid", "account_id": "org", "created_at": "joined"})
    users["joined"] = users["joined"].astype("int64") // 1_000_000
    config = DataConfig.from_mapping({"columns": {"users": {"user_id": "uid", "account_id": "org",
                                                            "created_at": "joined", "created_at_unit": "s"}}})
    tables, _ = load_frames({**make_frames(), "users": users}, config)
    assert list(tables.users.ids) == ["u1", "u2"] and tables.users.created_us[0] == ts("2024-01-02").value // 1000


@pytest.mark.parametrize(("users", "column", "problem"), [
    (_users(account_id=["a", "nope"]), "account_id", "1 users belong to an account missing from accounts (users 'u2')"),
    (_users(user_id=["u1", "u1"], account_id=["a", "b"]), "user_id", "1 user ids are in two or more accounts"),
    (_users(user_id=["u1", "u1"]), "user_id", "1 duplicate user ids, e.g. 'u1'"),
    (_users(user_id=["u1", None]), "user_id", "1 rows have a null user id"),
    (_users(created_at=["2024-01-02", "soon"]), "created_at", "1 values cannot be read as ISO-8601 timestamps"),
    (_users(created_at=["2024-01-02", None]), "created_at", "1 rows have no timestamp"),
    (_users(account_id=["a", None]), "account_id", "1 rows have a null account id"),
    (_users().iloc[:0], None, "is empty"),
])
def test_bad_users_are_one_line_errors(make_frames, users, column, problem):
    error = _error(make_frames, users)
    assert error.table == "users" and error.column == column and problem in str(error)
    assert "\n" not in str(error)


def test_a_missing_users_column_names_the_mapping(make_frames):
    error = _error(make_frames, _users().drop(columns="created_at"))
    assert error.table == "users" and error.column == "created_at"


def test_bad_users_exit_3_before_the_events_are_read_and_write_nothing(tmp_path):
    # events that would fail too: the users are checked first
    users = pd.DataFrame({"user_id": ["u1"], "account_id": ["b"], "created_at": ["2024-01-01"]})
    data = tiny_folder(tmp_path / "data", timestamp="not a date", users=users)
    out = run_features(tmp_path, f"data.dir={data}", "as_of=2024-05-06", f"output={tmp_path}/f.parquet")
    assert out.returncode == 3
    assert error_lines(out) == ["error: table 'users', column 'account_id': 1 users belong to an account missing from "
                      "accounts (users 'u1')"]
    assert not (tmp_path / "f.parquet").exists()


def test_a_repeated_user_hash_is_found_by_sorting():
    import numpy as np

    from features.data.users import _repeats

    assert _repeats(np.array([5, 9, 2, 9], np.uint64)) and not _repeats(np.array([5, 9, 2], np.uint64))
    assert not _repeats(np.array([], np.uint64))


def test_clean_users_are_read_in_one_scan_a_bad_row_still_gets_the_column_checks_line(make_frames, monkeypatch):
    """The column checks (a second scan of millions of users) run only when the rows read show a null or
    unreadable key or created_at; their line is the same as before."""
    import features.data.users as module

    calls = []
    checks = module.check_columns
    monkeypatch.setattr(module, "check_columns", lambda *a, **k: calls.append(a[1]) or checks(*a, **k))
    load_frames({**make_frames(), "users": _users()})
    assert calls == []
    error = _error(make_frames, _users(created_at=["2024-01-02", "soon"]))
    assert calls == ["users"] and "1 values cannot be read as ISO-8601 timestamps" in str(error)
