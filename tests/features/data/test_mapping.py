"""Mapping a source's columns onto the contract (features.data.mapping): renamed columns, epoch units, time
zones (aware text to UTC, naive text in ``data.timezone``), and time columns in other formats than ISO-8601:
``data.columns.<table>.<column>_format`` (strftime codes, read by DuckDB's ``strptime``) gives the tables that
the same instants written as ISO text give, from CSV, Parquet text columns and a single export file; bad
formats and values stop the run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.config import DataConfig
from features.data.load import load_frames, load_tables
from features.errors import ConfigError, DataError
from features.windows import to_us


DAY, MINUTE = "%d/%m/%Y", "%d/%m/%Y %H:%M"


FORMATS = {"events": {"timestamp_format": MINUTE}, "accounts": {"created_at_format": DAY},
           "conversions": {"converted_at_format": DAY}}


def _world() -> dict[str, pd.DataFrame]:
    """A small demo world whose instants fit the formats (minutes; dates for accounts and conversions)."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=80, days=60, start="2024-01-01", seed=5))
    return {"accounts": world.accounts.assign(created_at=world.accounts["created_at"].dt.floor("D")),
            "events": world.events.assign(timestamp=world.events["timestamp"].dt.floor("min")),
            "conversions": world.conversions.assign(converted_at=world.conversions["converted_at"].dt.floor("D"))}


def _as_text(frames: dict[str, pd.DataFrame], formats: dict[str, str] | None) -> dict[str, pd.DataFrame]:
    """The frames with their time columns as text: ISO-8601 (``formats`` None) or in the given formats."""
    columns = {"accounts": "created_at", "events": "timestamp", "conversions": "converted_at"}
    out = {}
    for table, frame in frames.items():
        column = columns[table]
        fmt = (formats or {}).get(table, "%Y-%m-%d %H:%M:%S")
        out[table] = frame.assign(**{column: frame[column].dt.strftime(fmt)})
    return out


def _write(folder: Path, frames: dict[str, pd.DataFrame], kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        if frame is None:
            continue
        if kind == "csv":
            frame.to_csv(folder / f"{table}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{table}.parquet", index=False)
    return folder


def _same(got, expected) -> None:
    (a, ra), (b, rb) = got, expected
    assert ra.rows_read == rb.rows_read and ra.set_aside == rb.set_aside and ra.notes == rb.notes
    assert np.array_equal(a.created_us, b.created_us) and np.array_equal(a.converted_us, b.converted_us)
    assert np.array_equal(a.events.ts, b.events.ts) and np.array_equal(a.events.account, b.events.account)
    assert a.data_end_us == b.data_end_us


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_formatted_text_gives_the_tables_of_iso_text(tmp_path, kind) -> None:
    world = _world()
    iso = _write(tmp_path / "iso", _as_text(world, None), kind)
    formatted = _write(tmp_path / "formatted", _as_text(world, {t: v for t, c in FORMATS.items() for v in c.values()}),
                       kind)
    expected = load_tables(DataConfig.from_mapping({"dir": str(iso)}))
    _same(load_tables(DataConfig.from_mapping({"dir": str(formatted), "columns": FORMATS})), expected)


def test_naive_values_are_in_data_timezone_and_offsets_win() -> None:
    accounts = pd.DataFrame({"account_id": ["a"], "created_at": ["01/01/2024"]})
    events = pd.DataFrame({"account_id": ["a", "a"], "event": ["x", "y"],
                           "timestamp": ["02/07/2024 10:30", "02/07/2024 10:30 +0000"]})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str), "converted_at": pd.Series([], dtype=str)})
    frames = {"accounts": accounts, "events": events.iloc[:1], "conversions": conversions}
    config = {"timezone": "Europe/Paris", "columns": {"accounts": {"created_at_format": DAY},
                                                      "events": {"timestamp_format": MINUTE}}}
    tables, _ = load_frames(frames, DataConfig.from_mapping(config))
    assert tables.events.ts.tolist() == [to_us("2024-07-02 08:30")]  # summer time in Paris: UTC+2
    assert tables.created_us.tolist() == [to_us("2023-12-31 23:00")]
    config["columns"]["events"]["timestamp_format"] = MINUTE + " %z"
    tables, _ = load_frames({**frames, "events": events.iloc[1:]}, DataConfig.from_mapping(config))
    assert tables.events.ts.tolist() == [to_us("2024-07-02 10:30")]  # an offset in the text: converted to UTC


def test_numbers_the_csv_reader_typed_are_read_by_the_format(tmp_path) -> None:
    pd.DataFrame({"account_id": ["a"], "created_at": ["2024-01-01"]}).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["a", "a"], "event": ["x", "y"], "timestamp": [20240110, 20240111]}).to_csv(
        tmp_path / "events.csv", index=False)
    pd.DataFrame({"account_id": ["a"], "converted_at": ["2024-02-01"]}).to_csv(tmp_path / "conversions.csv", index=False)
    tables, _ = load_tables(DataConfig.from_mapping({"dir": str(tmp_path),
                                                     "columns": {"events": {"timestamp_format": "%Y%m%d"}}}))
    assert tables.events.ts.tolist() == [to_us("2024-01-10"), to_us("2024-01-11")]


def test_values_that_do_not_match_are_the_unparseable_timestamp_error(make_frames) -> None:
    frames = make_frames(events=pd.DataFrame({"account_id": ["a", "a", "b"], "event": ["x", "x", "y"],
                                              "when": ["10/01/2024 09:00", "2024-01-11 09:00", "31/02/2024 09:00"]}))
    frames["accounts"] = frames["accounts"].assign(created_at=["01/01/2024", "01/01/2024"])
    config = DataConfig.from_mapping({"columns": {"events": {"timestamp": "when", "timestamp_format": MINUTE},
                                                  "accounts": {"created_at_format": DAY}}})
    with pytest.raises(DataError) as err:
        load_frames(frames, config)
    message = str(err.value)
    assert "'events'" in message and "'when'" in message and "2 values cannot be read" in message
    assert "'%d/%m/%Y %H:%M'" in message and "data.columns.events.timestamp_format" in message
    assert "'2024-01-11 09:00'" in message or "'31/02/2024 09:00'" in message


@pytest.mark.parametrize("fmt", ["%d/%m/%Q", ""])
def test_a_format_duckdb_cannot_use_is_a_config_error_naming_the_key(make_frames, fmt) -> None:
    config = DataConfig.from_mapping({"columns": {"events": {"timestamp_format": fmt}}})
    with pytest.raises(ConfigError, match=r"data\.columns\.events\.timestamp_format"):
        load_frames(make_frames(), config)


def test_a_format_with_a_unit_is_a_config_error(make_frames) -> None:
    config = DataConfig.from_mapping({"columns": {"accounts": {"created_at_format": DAY, "created_at_unit": "s"}}})
    with pytest.raises(ConfigError, match=r"data\.columns\.accounts\.created_at_format.*created_at_unit"):
        load_frames(make_frames(), config)


def test_a_format_on_a_column_of_timestamps_names_the_key(make_frames) -> None:
    config = DataConfig.from_mapping({"columns": {"events": {"timestamp_format": DAY}}})
    with pytest.raises(DataError, match=r"not text.*data\.columns\.events\.timestamp_format"):
        load_frames(make_frames(), config)  # the frames' timestamps are datetimes already


def test_an_export_reads_its_timestamps_and_registrations_in_formats(tmp_path) -> None:
    world = _world()
    events = world["events"].merge(world["accounts"][["account_id", "created_at"]], on="account_id")
    events = events.rename(columns={"created_at": "registered"})
    export = {"table": "events", "accounts": {"created_at": "registered"},
              "conversions": {"event": str(events["event"].iloc[0])}}

    def load(folder: Path, ts_format: str | None, day_format: str | None):
        frame = events.assign(timestamp=events["timestamp"].dt.strftime(ts_format or "%Y-%m-%dT%H:%M:%S"),
                              registered=events["registered"].dt.strftime(day_format or "%Y-%m-%d"))
        folder.mkdir()
        frame.to_csv(folder / "events.csv", index=False)
        columns = {"events": {"timestamp_format": ts_format}} if ts_format else {}
        spec = {**export, "accounts": {**export["accounts"], "created_at_format": day_format}}
        return load_tables(DataConfig.from_mapping({"dir": str(folder), "columns": columns, "export": spec}))

    _same(load(tmp_path / "formatted", MINUTE, DAY), load(tmp_path / "iso", None, None))
    with pytest.raises(ConfigError, match=r"data\.export\.accounts\.created_at_format"):
        load(tmp_path / "bad", MINUTE, "%Q")


@pytest.mark.parametrize("columns", [{"timestamp_format": DAY}, {"timestamp_format": MINUTE}, {}])
def test_off_midnight_counts_what_auto_decides_on_part_by_part(columns) -> None:
    """What an engine that reads a table in parts (Spark) adds up to decide ``data.duplicates=auto``."""
    from features.data.mapping import off_midnight

    world = _world()
    fmt = columns.get("timestamp_format", "%Y-%m-%d %H:%M:%S")
    times = world["events"]["timestamp"]
    events = world["events"].assign(timestamp=(times if fmt == MINUTE else times.dt.floor("D")).dt.strftime(fmt))
    config = DataConfig.from_mapping({"columns": {"events": columns}})
    parts = [off_midnight(events.iloc[lo:lo + 5000], config, "events") for lo in range(0, len(events), 5000)]
    assert sum(n for n, _ in parts) == len(events)
    arrow = pa.Table.from_pandas(events, preserve_index=False)  # Spark's split tasks count their Arrow parts
    assert [off_midnight(arrow.slice(lo, 5000), config, "events") for lo in range(0, len(events), 5000)] == parts
    _, report = load_frames({**world, "events": events}, config)
    day_resolution = any("day resolution" in note for note in report.notes)
    assert day_resolution == (sum(off for _, off in parts) == 0) == (fmt != MINUTE)


def test_epoch_milliseconds_and_renamed_columns(tmp_path, make_frames):
    frames = make_frames()
    frames["events"] = pd.DataFrame({"uid": ["a", "b"], "what": ["x", "y"],
                                     "ts": [1704844800000, 1704931200500]})  # 2024-01-10, 2024-01-11 00:00:00.5
    _write(tmp_path, frames, "parquet")
    config = DataConfig.from_mapping({"dir": str(tmp_path), "columns": {"events": {
        "account_id": "uid", "event": "what", "timestamp": "ts", "timestamp_unit": "ms"}}})
    tables, _ = load_tables(config)
    assert tables.events.ts.tolist() == [to_us("2024-01-10"), to_us("2024-01-11 00:00:00.5")]
    assert tables.events.user is None and tables.events.quantity is None  # optional columns absent


def test_epoch_seconds(tmp_path, make_frames):
    frames = make_frames()
    frames["accounts"] = frames["accounts"].assign(created_at=[1704067200, 1704067201])
    _write(tmp_path, frames, "csv")
    config = DataConfig.from_mapping({"dir": str(tmp_path), "columns": {"accounts": {"created_at_unit": "s"}}})
    tables, _ = load_tables(config)
    assert tables.created_us.tolist() == [to_us("2024-01-01"), to_us("2024-01-01 00:00:01")]


def test_aware_text_is_converted_to_utc_and_naive_text_follows_data_timezone(tmp_path, make_frames):
    frames = make_frames()
    frames["events"] = pd.DataFrame({"account_id": ["a", "a"], "event": ["x", "x"],
                                     "timestamp": ["2024-01-10T10:00:00+02:00", "2024-01-10 10:00:00"]})
    _write(tmp_path, frames, "csv")
    utc, _ = load_tables(DataConfig(dir=str(tmp_path)))
    assert sorted(utc.events.ts.tolist()) == [to_us("2024-01-10 08:00"), to_us("2024-01-10 10:00")]
    berlin, _ = load_tables(DataConfig(dir=str(tmp_path), timezone="Europe/Berlin"))
    assert sorted(berlin.events.ts.tolist()) == [to_us("2024-01-10 08:00"), to_us("2024-01-10 09:00")]


def test_aware_parquet_timestamps_become_utc(tmp_path, make_frames):
    frames = make_frames()
    frames["events"] = frames["events"].assign(
        timestamp=pd.Series([pd.Timestamp("2024-01-10 12:00", tz="America/New_York")]))
    _write(tmp_path, frames, "parquet")
    tables, _ = load_tables(DataConfig(dir=str(tmp_path)))
    assert tables.events.ts.tolist() == [to_us("2024-01-10 17:00")]
