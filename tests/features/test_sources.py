"""Data sources: folders of Parquet/CSV/JSON lines/parts, DuckDB files, column mapping, time zones, exports."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.config import DataConfig
from features.data.load import load_tables
from features.windows import to_us

SPARKIFY = Path(__file__).resolve().parents[2] / "examples" / "sparkify"


def _write(folder: Path, frames: dict, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if frame is None:
            continue
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet")
        elif fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "jsonl":
            frame.to_json(folder / f"{name}.jsonl", orient="records", lines=True, date_format="iso")
        elif fmt == "parts":
            (folder / name).mkdir()
            half = len(frame) // 2
            frame.iloc[:half].to_parquet(folder / name / "part-0.parquet")
            frame.iloc[half:].to_parquet(folder / name / "part-1.parquet")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "parts"])
def test_folder_formats_give_the_same_tables(tmp_path, make_frames, fmt):
    frames = make_frames()
    frames["events"] = pd.concat([frames["events"]] * 3).assign(
        timestamp=pd.to_datetime(["2024-01-10", "2024-01-11", "2024-01-12"]).astype("datetime64[us]"))
    frames["conversions"] = pd.DataFrame({"account_id": ["b"], "converted_at": [pd.Timestamp("2024-02-01")]})
    _write(tmp_path, frames, fmt)
    tables, report = load_tables(DataConfig(dir=str(tmp_path)))
    assert report.rows_read == {"accounts": 2, "events": 3, "conversions": 1}
    assert sorted(tables.events.ts.tolist()) == [to_us(d) for d in ("2024-01-10", "2024-01-11", "2024-01-12")]
    assert tables.accounts["account_id"].tolist() == ["a", "b"]
    assert tables.converted_us[1] == to_us("2024-02-01")


def test_duckdb_database(tmp_path, make_frames):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    for name, frame in make_frames().items():
        if frame is not None:
            con.register("f", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM f")
            con.unregister("f")
    con.close()
    tables, report = load_tables(DataConfig(duckdb=str(path)))
    assert report.rows_read["events"] == 1 and tables.n_accounts == 2


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


def _export(tmp_path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_json(tmp_path / "events.jsonl", orient="records", lines=True)
    return tmp_path


EXPORT = {"anonymous": "set_aside", "accounts": {"created_at": "registration", "created_at_unit": "ms",
                                                 "attributes": ["plan"]},
          "conversions": {"column": "level", "values": ["paid"]}}
COLUMNS = {"events": {"account_id": "userId", "event": "page", "timestamp": "ts", "timestamp_unit": "ms",
                      "user_id": None, "quantity": None}}
DAY_MS = 86_400_000


def test_accounts_and_conversions_derived_from_one_export(tmp_path):
    rows = [
        {"userId": "1", "page": "Home", "ts": 5 * DAY_MS, "registration": DAY_MS, "level": "free", "plan": None},
        {"userId": "1", "page": "Upgrade", "ts": 6 * DAY_MS, "registration": DAY_MS, "level": "paid", "plan": "x"},
        {"userId": "1", "page": "Home", "ts": 7 * DAY_MS, "registration": DAY_MS, "level": "paid", "plan": "y"},
        {"userId": "2", "page": "Home", "ts": 3 * DAY_MS, "registration": None, "level": "free", "plan": "z"},
        {"userId": "", "page": "Home", "ts": 3 * DAY_MS, "registration": None, "level": "free", "plan": None},
    ]
    config = DataConfig.from_mapping({"dir": str(_export(tmp_path, rows)), "export": EXPORT, "columns": COLUMNS})
    tables, report = load_tables(config)
    acc = tables.accounts.set_index("account_id")
    assert acc.loc["1", "plan"] == "x" and acc.loc["2", "plan"] == "z"  # first known value
    assert tables.created_us.tolist() == [DAY_MS * 1000, 3 * DAY_MS * 1000]  # registration, else first event
    assert tables.converted_us[0] == 6 * DAY_MS * 1000 and tables.converted_us[1] == np.iinfo(np.int64).max
    assert report.set_aside["events: no account id (anonymous)"] == 1
    assert len(tables.events) == 4


def test_conversion_by_event_name(tmp_path):
    rows = [{"userId": "1", "page": p, "ts": d * DAY_MS, "registration": DAY_MS, "level": "free", "plan": "x"}
            for p, d in (("Home", 2), ("Submit Upgrade", 4), ("Submit Upgrade", 9))]
    export = {**EXPORT, "conversions": {"event": "Submit Upgrade"}}
    config = DataConfig.from_mapping({"dir": str(_export(tmp_path, rows)), "export": export, "columns": COLUMNS})
    tables, _ = load_tables(config)
    assert tables.converted_us.tolist() == [4 * DAY_MS * 1000]


def test_sparkify_export_maps_onto_the_pipeline(tmp_path):
    from omegaconf import OmegaConf

    from app.preflight import compose_config
    from features.build import build_features
    from features.plan import plan_features
    from features.config import FeatureConfig

    cfg = compose_config("features", ["data=sparkify", "features=sparkify", f"data.dir={SPARKIFY}", "as_of=2018-11-20"])
    data = OmegaConf.to_container(cfg.data, resolve=True)
    tables, report = load_tables(DataConfig.from_mapping(data))
    assert tables.n_accounts == 97  # listeners (the README's count)
    assert report.set_aside["events: no account id (anonymous)"] == 286
    assert report.rows_read["events"] == 8056 - 286
    assert set(tables.fit_columns) == {"gender", "location", "userAgent"}
    converted = tables.converted_us[tables.converted_us != np.iinfo(np.int64).max]
    assert 7 <= len(converted) <= 97 - 82 + 7  # free listeners who upgrade + listeners paid from the start
    as_of = pd.Timestamp("2018-11-20")
    spec = plan_features(tables, as_of, FeatureConfig.from_mapping(OmegaConf.to_container(cfg.features)))
    frame = build_features(tables, [as_of], spec)
    assert len(frame) > 0 and "next_song_count_7d" in frame and "days_to_first_upgrade" in frame
    assert frame["events_count_all"].sum() > 0
    # strictly before the as-of: the export cut at the as-of gives the same features for the listeners
    # it still holds (a listener registered before the as-of whose first event is later is only in the full export)
    export = pd.read_json(SPARKIFY / "events.jsonl.gz", lines=True, dtype={"userId": str})
    export[export["ts"] < as_of.value // 1_000_000].to_json(tmp_path / "events.jsonl", orient="records", lines=True)
    cut, _ = load_tables(DataConfig.from_mapping({**data, "dir": str(tmp_path)}))
    cut_frame = build_features(cut, [as_of], spec)
    assert set(cut_frame["account_id"]) <= set(frame["account_id"])
    same = frame[frame["account_id"].isin(cut_frame["account_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(same.drop(columns=list(tables.fit_columns)),
                                  cut_frame.drop(columns=list(tables.fit_columns)))
