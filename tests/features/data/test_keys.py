"""Account ids of different types across tables: matched when it is lossless (and said so), else one
clear error naming both tables and types; a table none of whose rows matches an account is an error."""
from __future__ import annotations

import pandas as pd
import pytest

from features.config import DataConfig
from features.errors import DataError
from features.data.load import load_frames, load_tables


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _accounts(ids):
    return pd.DataFrame({"account_id": ids, "created_at": [ts("2024-01-01")] * len(ids)})


def _events(ids):
    return pd.DataFrame({"account_id": ids, "event": ["task"] * len(ids),
                         "timestamp": [ts("2024-01-10")] * len(ids)}).assign(
        timestamp=lambda f: f["timestamp"] + pd.to_timedelta(range(len(f)), unit="h"))


def _conversions(ids):
    return pd.DataFrame({"account_id": ids, "converted_at": [ts("2024-02-01")] * len(ids)})


def test_text_ids_with_leading_zeros_against_integers_is_an_error(make_frames):
    frames = make_frames(accounts=_accounts(["000012", "000013"]), events=_events([12, 13, 12]))
    with pytest.raises(DataError) as info:
        load_frames(frames)
    text = str(info.value)
    assert "VARCHAR" in text and "BIGINT" in text and "'000012'" in text
    assert "accounts" in text and "events" in text and "\n" not in text


def test_whole_float_ids_match_integer_ids_and_the_report_says_so(make_frames):
    frames = make_frames(accounts=_accounts([12, 13, 14]), events=_events([12, 13, 14]),
                         conversions=_conversions([12.0, 14.0]))
    tables, report = load_frames(frames)
    assert not any(report.set_aside.values())
    assert sorted(tables.accounts["account_id"][tables.converted_us < 2**62].tolist()) == [12, 14]
    assert any(line.startswith("account ids: conversions (DOUBLE) matched as BIGINT") for line in report.lines())


def test_fractional_float_ids_against_integer_ids_is_an_error(make_frames):
    frames = make_frames(accounts=_accounts([12, 13]), events=_events([12, 13]),
                         conversions=_conversions([12.5]))
    with pytest.raises(DataError, match=r"table 'conversions'.*DOUBLE.*'accounts' ids are BIGINT.*whole numbers"):
        load_frames(frames)


def test_plain_integer_text_matches_integer_ids(make_frames):
    frames = make_frames(accounts=_accounts([1, 2]), events=_events(["1", "2"]))
    tables, report = load_frames(frames)
    assert len(tables.events) == 2 and not any(report.set_aside.values())
    assert any("events (VARCHAR) matched as BIGINT" in line for line in report.lines())


def test_mixed_types_in_files(tmp_path, make_frames):
    """The same through files: a Parquet of zero-padded text ids beside a CSV of integer ids."""
    frames = make_frames(accounts=_accounts(["000012", "000013"]))
    frames["accounts"].to_parquet(tmp_path / "accounts.parquet")
    _events([12, 13]).to_csv(tmp_path / "events.csv", index=False)
    frames["conversions"].to_parquet(tmp_path / "conversions.parquet")
    with pytest.raises(DataError, match="cannot be matched"):
        load_tables(DataConfig(dir=str(tmp_path)))


@pytest.mark.parametrize("table", ["events", "conversions"])
def test_a_table_of_unknown_accounts_only_is_an_error(make_frames, table):
    frames = make_frames()
    frames[table] = _events(["x", "y"]) if table == "events" else _conversions(["x", "y"])
    with pytest.raises(DataError, match=f"table '{table}'.*none of its 2 rows .* in accounts"):
        load_frames(frames)


def test_some_unknown_accounts_are_set_aside_not_an_error(make_frames):
    tables, report = load_frames(make_frames(events=_events(["a", "nobody"])))
    assert report.set_aside["events: unknown account"] == 1 and len(tables.events) == 1


def test_same_kind_of_different_width_joins_directly(make_frames):
    accounts = _accounts(pd.array([1, 2], dtype="int32"))
    tables, report = load_frames(make_frames(accounts=accounts, events=_events([1, 2])))
    assert len(tables.events) == 2 and not any(line.startswith("account ids:") for line in report.lines())
