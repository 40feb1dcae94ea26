"""Bad input: a clear error naming table, column and problem; safe rows set aside and counted."""
from __future__ import annotations

import pandas as pd
import pytest

from features.config import DataConfig
from features.errors import ConfigError, DataError
from features.data.load import load_frames


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _events(**overrides):
    base = {"account_id": ["a", "a"], "event": ["task", "task"], "timestamp": [ts("2024-01-10"), ts("2024-01-11")],
            "user_id": ["u1", "u2"], "quantity": [1.0, 2.0]}
    base.update(overrides)
    return pd.DataFrame(base)


def _load(make_frames, config=None, **tables):
    return load_frames(make_frames(**tables), config)


def _error(make_frames, config=None, **tables) -> DataError:
    with pytest.raises(DataError) as info:
        _load(make_frames, config, **tables)
    return info.value


def test_missing_table(make_frames):
    frames = make_frames()
    frames["conversions"] = None
    with pytest.raises(DataError, match="table 'conversions': is missing"):
        load_frames(frames)


def test_missing_column(make_frames):
    err = _error(make_frames, events=_events().drop(columns="event"))
    assert (err.table, err.column) == ("events", "event") and "is not there" in err.problem


def test_mapping_names_a_column_that_is_not_there(make_frames):
    config = DataConfig.from_mapping({"columns": {"events": {"timestamp": "ts"}}})
    err = _error(make_frames, config)
    assert (err.table, err.column) == ("events", "ts") and "data.columns.events.timestamp" in str(err)


def test_optional_column_mapped_explicitly_must_exist(make_frames):
    config = DataConfig.from_mapping({"columns": {"events": {"user_id": "member"}}})
    assert _error(make_frames, config).column == "member"


def test_unparseable_timestamp(make_frames):
    events = _events(timestamp=["2024-01-10", "yesterday"])
    err = _error(make_frames, events=events)
    assert (err.table, err.column) == ("events", "timestamp") and "'yesterday'" in err.problem


def test_numeric_timestamps_need_a_unit(make_frames):
    err = _error(make_frames, events=_events(timestamp=[1704844800, 1704931200]))
    assert "timestamp_unit" in err.problem


def test_null_timestamp(make_frames):
    err = _error(make_frames, events=_events(timestamp=[ts("2024-01-10"), None]))
    assert "no timestamp" in err.problem


def test_duplicate_account_id(make_frames):
    accounts = pd.DataFrame({"account_id": ["a", "a"], "created_at": [ts("2024-01-01")] * 2})
    err = _error(make_frames, accounts=accounts)
    assert (err.table, err.column) == ("accounts", "account_id") and "duplicate" in err.problem


@pytest.mark.parametrize("table", ["accounts", "events", "conversions"])
def test_null_key(make_frames, table):
    frames = make_frames()
    frame = frames[table] if len(frames[table]) else pd.DataFrame(
        {"account_id": ["a"], "converted_at": [ts("2024-02-01")]})
    frames[table] = frame.assign(account_id=[None] * len(frame))
    with pytest.raises(DataError, match=f"table '{table}', column 'account_id': .* null account id"):
        load_frames(frames)


def test_null_event_name(make_frames):
    assert "null event" in _error(make_frames, events=_events(event=["task", None])).problem


def test_non_numeric_quantity(make_frames):
    err = _error(make_frames, events=_events(quantity=["1", "lots"]))
    assert (err.column, "'lots'" in err.problem) == ("quantity", True)


@pytest.mark.parametrize("table", ["accounts", "events"])
def test_empty_table(make_frames, table):
    frames = make_frames()
    frames[table] = frames[table].iloc[0:0]
    with pytest.raises(DataError, match=f"table '{table}': is empty"):
        load_frames(frames)


def test_unknown_time_zone(make_frames):
    with pytest.raises(ConfigError, match="data.timezone"):
        _load(make_frames, DataConfig(timezone="Mars/Olympus"))


def test_rows_set_aside_are_counted_not_dropped_silently(make_frames):
    events = pd.DataFrame({
        "account_id": ["a", "a", "a", "zz", "b"],
        "event": ["task"] * 5,
        "timestamp": [ts("2024-01-10"), ts("2024-01-10"), ts("2023-12-01"), ts("2024-01-10"), ts("2024-01-12")],
        "user_id": ["u1"] * 5, "quantity": [1.0] * 5})
    conversions = pd.DataFrame({"account_id": ["a", "a", "ghost"],
                                "converted_at": [ts("2024-03-01"), ts("2024-04-01"), ts("2024-03-01")]})
    tables, report = _load(make_frames, events=events, conversions=conversions)
    aside = {k: v for k, v in report.set_aside.items() if v}
    assert aside == {"events: unknown account": 1, "events: before the account existed": 1,
                     "events: exact duplicates": 1, "conversions: unknown account": 1,
                     "conversions: repeat conversions of a converted account": 1}
    assert len(tables.events) == 2
    assert tables.converted_us[0] == ts("2024-03-01").value // 1000  # the first conversion counts
    assert any("exact duplicates 1" in line for line in report.lines())


def test_strict_mode_turns_set_aside_rows_into_an_error(make_frames):
    events = _events(account_id=["a", "nobody"])
    with pytest.raises(DataError, match="data.strict=true"):
        _load(make_frames, DataConfig(strict=True), events=events)


def test_near_duplicates_are_kept(make_frames):
    events = _events(timestamp=[ts("2024-01-10")] * 2, user_id=["u1", "u1"], quantity=[1.0, 1.5])
    tables, report = _load(make_frames, events=events)
    assert len(tables.events) == 2 and report.set_aside["events: exact duplicates"] == 0


def test_ids_of_different_types_are_matched_as_text(make_frames):
    accounts = pd.DataFrame({"account_id": [1, 2], "created_at": [ts("2024-01-01")] * 2})
    events = _events(account_id=["1", "2"])
    tables, report = _load(make_frames, accounts=accounts, events=events)
    assert len(tables.events) == 2 and not any(report.set_aside.values())


def test_an_account_created_in_1970_is_reported_as_an_outlier(make_frames):
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(50)] + ["old"],
                             "created_at": [ts("2024-01-01") + pd.Timedelta(days=i) for i in range(50)]
                             + [ts("1970-01-01")]})
    events = _events(account_id=["a1", "old"])
    _, report = _load(make_frames, accounts=accounts, events=events)
    notes = [line for line in report.lines() if "created long before the bulk" in line]
    assert len(notes) == 1 and "1 account " in notes[0] and "1970-01-01" in notes[0]


def test_no_outlier_note_for_accounts_spread_evenly(make_frames):
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(50)],
                             "created_at": [ts("2022-01-01") + pd.Timedelta(days=15 * i) for i in range(50)]})
    _, report = _load(make_frames, accounts=accounts, events=_events(account_id=["a1", "a2"]))
    assert not any("before the bulk" in line for line in report.lines())


def test_a_table_without_account_id_says_how_to_map_it(make_frames):
    frames = make_frames()
    frames["accounts"] = frames["accounts"].rename(columns={"account_id": "customer"})
    with pytest.raises(DataError, match=r"data\.columns\.accounts\.account_id=<your column>") as info:
        load_frames(frames)
    assert (info.value.table, info.value.column) == ("accounts", "account_id") and "'customer'" in str(info.value)


def _outlier_notes(make_frames, created: list) -> list[str]:
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(len(created))], "created_at": created})
    _, report = _load(make_frames, accounts=accounts, events=_events(account_id=["a1", "a2"]))
    return [line for line in report.lines() if "created long before the bulk" in line]


def test_a_log_from_the_1990s_has_no_outliers_from_a_calendar_date(make_frames):
    nineties = [ts("1991-01-01") + pd.Timedelta(days=20 * i) for i in range(150)]
    assert _outlier_notes(make_frames, nineties) == []
    # a default date shared by 5% of the accounts (more than the first percentile) is still seen
    notes = _outlier_notes(make_frames, nineties + [ts("1970-01-01")] * 8)
    assert len(notes) == 1 and "8 accounts " in notes[0] and "1970-01-01" in notes[0]
