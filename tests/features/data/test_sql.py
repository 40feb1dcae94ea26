"""Names from data and config never become SQL: headers, mapped columns and table names are quoted or refused."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.config import DataConfig
from features.errors import ConfigError, DataError
from features.data.load import load_tables
from features.data.sql import identifier, literal, quote


def _attacks(tmp_path: Path) -> list[str]:
    """Names that would run a statement (writing a file under tmp_path) if pasted into SQL."""
    target = tmp_path / "pwned.csv"
    copy = f"COPY (SELECT 1) TO '{target}'"
    return [
        f'"; {copy}; --',
        f'account_id" FROM canon_accounts; {copy}; --',
        f"x'); {copy}; --",
        f"a;\n{copy};\n--",
        "größe ✓ 計画",
        'plan "tier"',
        "semi;colon",
    ]


def _write(folder: Path, frames: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if frame is not None:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _load_or_clean_error(config: DataConfig):
    """Loading either works or fails with a one-line error of the pipeline (never a DuckDB error)."""
    try:
        return load_tables(config)[0]
    except (DataError, ConfigError) as exc:
        assert "\n" not in str(exc)
        return None


def test_quote_and_literal_double_their_quote_characters():
    assert quote('plan "tier"') == '"plan ""tier"""'
    assert literal("it's") == "'it''s'"
    assert quote(2024) == '"2024"'


@pytest.mark.parametrize("name", ["pql_scores", "_scores2", "S" * 63])
def test_a_plain_table_name_is_an_identifier(name):
    assert identifier(name, "scores_table") == name


@pytest.mark.parametrize("name", ["", "2024_scores", "pql-scores", "a.b", "S" * 64, "naïve", "x\ny"])
def test_anything_else_is_refused_naming_the_key(name, tmp_path):
    for bad in (name, *_attacks(tmp_path)):
        with pytest.raises(ConfigError, match="^scores_table: .* is not a table name") as caught:
            identifier(bad, "scores_table")
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("index", range(7))
def test_hostile_accounts_headers_are_never_executed(tmp_path, make_frames, index):
    header = _attacks(tmp_path)[index]
    frames = make_frames()
    frames["accounts"] = frames["accounts"].assign(**{header: ["x", "y"]})
    tables = _load_or_clean_error(DataConfig(dir=str(_write(tmp_path / "data", frames))))
    assert not (tmp_path / "pwned.csv").exists()
    assert tables is not None  # a header is data: the load works, whatever the name holds
    assert header in tables.fit_columns
    assert tables.accounts[header].tolist() == ["x", "y"]


def test_a_header_with_double_quotes_is_a_fit_attribute(tmp_path, make_frames):
    frames = make_frames()
    frames["accounts"] = frames["accounts"].assign(**{'plan "tier"': ["pro", "free"]})
    tables, _ = load_tables(DataConfig(dir=str(_write(tmp_path / "data", frames))))
    assert tables.accounts['plan "tier"'].tolist() == ["pro", "free"]


@pytest.mark.parametrize("index", range(7))
def test_hostile_mapped_column_names_are_quoted(tmp_path, make_frames, index):
    name = _attacks(tmp_path)[index]
    frames = make_frames()
    frames["events"] = frames["events"].rename(columns={"event": name})
    data = _write(tmp_path / "data", frames)
    tables = _load_or_clean_error(DataConfig.from_mapping({"dir": str(data), "columns": {"events": {"event": name}}}))
    assert not (tmp_path / "pwned.csv").exists()
    assert tables is not None and tables.events.names == ("task",)
    # a mapping to a hostile name that is not there: one line naming it, nothing run
    with pytest.raises(DataError, match="is not there"):
        load_tables(DataConfig.from_mapping({"dir": str(data), "columns": {"events": {"timestamp": name}}}))
    assert not (tmp_path / "pwned.csv").exists()


@pytest.mark.parametrize("index", [0, 1, 2, 4, 5, 6])
def test_hostile_export_table_names_are_quoted(tmp_path, index, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = _attacks(tmp_path)[index].replace(str(tmp_path) + "/", "")  # a relative target: no path separator
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"uid": ["a", "a", "b"], "page": ["home", "upgrade", "home"],
                  "ts": ["2024-01-01", "2024-01-05", "2024-01-02"]}).to_csv(data / f"{name}.csv", index=False)
    config = DataConfig.from_mapping({"dir": str(data), "export": {"table": name, "conversions": {"event": "upgrade"}},
                                      "columns": {"events": {"account_id": "uid", "event": "page", "timestamp": "ts"}}})
    tables = _load_or_clean_error(config)
    assert not (tmp_path / "pwned.csv").exists()
    assert tables is not None and tables.n_accounts == 2


def test_export_table_that_is_a_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data.export.table"):
        load_tables(DataConfig.from_mapping({"dir": str(tmp_path), "export": {"table": "../elsewhere/events"}}))


def test_hostile_conversion_values_and_attributes_are_literals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    attack = "x'); COPY (SELECT 1) TO 'pwned.csv'; --"
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"uid": ["a", "b"], "page": ["home", attack], "ts": ["2024-01-01", "2024-01-05"],
                  attack: ["p", "q"]}).to_csv(data / "events.csv", index=False)
    config = DataConfig.from_mapping({"dir": str(data), "export": {"conversions": {"event": attack},
                                                                  "accounts": {"attributes": [attack]}},
                                      "columns": {"events": {"account_id": "uid", "event": "page", "timestamp": "ts"}}})
    tables, _ = load_tables(config)
    assert not (tmp_path / "pwned.csv").exists()
    assert tables.accounts[attack].tolist() == ["p", "q"] and len(tables.conversions) == 1


def test_a_mapping_that_looks_like_a_number_names_a_column(tmp_path, make_frames):
    frames = make_frames()
    frames["events"] = frames["events"].rename(columns={"event": "2024"})
    data = _write(tmp_path / "data", frames)
    # Hydra hands `data.columns.events.event=2024` over as the integer 2024
    tables, _ = load_tables(DataConfig.from_mapping({"dir": str(data), "columns": {"events": {"event": 2024}}}))
    assert tables.events.names == ("task",)
    with pytest.raises(DataError, match=r"column '2025': is not there"):
        load_tables(DataConfig.from_mapping({"dir": str(data), "columns": {"events": {"event": 2025}}}))
