"""Data sources (features.data.sources): folders of Parquet/CSV/JSON lines/parts and DuckDB files give the
same tables; paths are literal (no DuckDB globbing) and text files are read in the configured encoding.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.config import DataConfig
from features.data.load import load_tables
from features.data.sources import encoding_of, open_folder
from features.errors import ConfigError, DataError
from features.windows import to_us


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


def _accounts(n: int) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(n)],
                         "created_at": pd.Timestamp("2024-01-01").as_unit("us")})


def _world(folder: Path, n: int, fmt: str) -> Path:
    folder.mkdir(parents=True)
    events = pd.DataFrame({"account_id": ["a0"], "event": ["x"], "timestamp": [pd.Timestamp("2024-01-02")]})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    for name, frame in (("accounts", _accounts(n)), ("events", events), ("conversions", conversions)):
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet")
        else:  # a folder of parts whose names hold glob characters too
            (folder / name).mkdir()
            frame.to_parquet(folder / name / "part[1]*.parquet")
    return folder


def _latin1_world(folder: Path) -> Path:
    _world(folder, 2, "csv")
    (folder / "accounts.csv").write_bytes("account_id,created_at,city\na0,2024-01-01,München\n"
                                          "a1,2024-01-01,Zürich\n".encode("latin-1"))
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet", "parts"])
def test_a_folder_name_with_glob_characters_is_read_literally(tmp_path, fmt):
    _world(tmp_path / "exportsa", 120, fmt)
    _world(tmp_path / "exportsb", 7, fmt)
    weird = _world(tmp_path / "exports[ab]", 300, fmt)
    tables, _ = load_tables(DataConfig(dir=str(weird)))
    assert tables.n_accounts == 300


def test_parts_are_the_files_found_not_a_pattern(tmp_path):
    folder = _world(tmp_path / "data{1,2}?", 5, "parts")
    extra = _accounts(3).assign(account_id=["z0", "z1", "z2"])
    (folder / "accounts" / "nested").mkdir()
    extra.to_parquet(folder / "accounts" / "nested" / "part-2.parquet")
    (folder / "accounts" / "_SUCCESS").write_text("")
    tables, _ = load_tables(DataConfig(dir=str(folder)))
    assert tables.n_accounts == 8


def test_a_non_utf8_csv_is_one_line_naming_table_file_and_line(tmp_path):
    folder = _latin1_world(tmp_path / "data")
    with pytest.raises(DataError) as err:
        load_tables(DataConfig(dir=str(folder)))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("table 'accounts'") and "accounts.csv" in message and "line 2" in message
    assert "data.encoding" in message


def test_a_latin1_csv_reads_with_the_encoding_setting(tmp_path):
    folder = _latin1_world(tmp_path / "data")
    source = open_folder(folder)
    source.read_pending("latin-1")
    cities = source.con.execute("SELECT city FROM raw_accounts ORDER BY account_id").fetchall()
    assert [c[0] for c in cities] == ["München", "Zürich"]


def test_data_encoding_end_to_end(tmp_path):
    folder = _latin1_world(tmp_path / "data")
    tables, _ = load_tables(DataConfig.from_mapping({"dir": str(folder), "encoding": "latin-1"}))
    assert tables.accounts["city"].tolist() == ["München", "Zürich"]


def test_an_unknown_encoding_is_a_config_error():
    class Config:
        encoding = "klingon"

    with pytest.raises(ConfigError, match="data.encoding"):
        encoding_of(Config())  # type: ignore[arg-type]
    Config.encoding = "LATIN1"
    assert encoding_of(Config()) == "latin-1"  # type: ignore[arg-type]


def test_an_empty_folder_lists_the_file_names_it_looks_for(tmp_path):
    with pytest.raises(DataError, match=r"table 'accounts': is missing from folder .*looked for accounts\.parquet, "
                                        r"accounts\.csv, .*accounts\.jsonl.* or a folder accounts/ of Parquet parts"):
        load_tables(DataConfig.from_mapping({"dir": str(tmp_path)}))
