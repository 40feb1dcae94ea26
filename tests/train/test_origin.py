"""Where a model's training data came from (train.origin): the source in words and a fingerprint that tells
two sources apart and never two spellings of one source."""
from __future__ import annotations

from features.config import DataConfig
from train.origin import Origin, data_source, fingerprint, origin_of

DEMO = {"dir": None, "duckdb": None, "demo": {"accounts": 3000, "seed": 7}, "timezone": "UTC"}


def test_the_source_in_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data_source(DataConfig(dir="data")) == f"folder {tmp_path / 'data'}"
    assert data_source(DataConfig(duckdb="crm.duckdb")) == f"DuckDB {tmp_path / 'crm.duckdb'}"
    assert data_source(DataConfig()) == "demo world"


def test_one_source_spelled_two_ways_has_one_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = {**DEMO, "dir": "data"}
    absolute = {"timezone": "UTC", "dir": str(tmp_path / "data"), "duckdb": None}  # other key order, no demo
    assert fingerprint(relative) == fingerprint(absolute)
    assert len(fingerprint(relative)) == 16 and int(fingerprint(relative), 16) >= 0


def test_what_changes_the_data_changes_the_fingerprint(tmp_path):
    base = fingerprint({**DEMO, "dir": str(tmp_path / "a")})
    assert fingerprint({**DEMO, "dir": str(tmp_path / "b")}) != base
    assert fingerprint({**DEMO, "dir": str(tmp_path / "a"), "timezone": "Europe/Berlin"}) != base
    # the demo world's size and seed are its data
    assert fingerprint(DEMO) != fingerprint({**DEMO, "demo": {"accounts": 3000, "seed": 8}})


def test_the_input_mapping_is_not_changed(tmp_path):
    config = {**DEMO, "dir": "data"}
    before = dict(config)
    fingerprint(config)
    assert config == before


def test_the_model_metadata_of_an_origin(tmp_path):
    origin = origin_of(DataConfig(dir=str(tmp_path)), {**DEMO, "dir": str(tmp_path)}, ["rules: demo.yaml"])
    assert origin.meta() == {"data_source": f"folder {tmp_path}", "data_fingerprint": origin.fingerprint}
    assert origin.notes == ("rules: demo.yaml",)
    assert Origin().meta() == {}  # an unknown source records nothing


def test_a_short_name_of_the_source_names_its_experiment(tmp_path):
    from train.origin import source_name

    assert source_name(DataConfig(dir=str(tmp_path / "Lead Funnel"))) == "lead-funnel"
    assert source_name(DataConfig(duckdb=str(tmp_path / "CRM_2024.duckdb"))) == "crm-2024"
    assert source_name(DataConfig()) is None
