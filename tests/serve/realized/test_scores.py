"""Reading the kept scores back by the scores table's contract: ids as text, one row per account and day,
probabilities in [0, 1], table names as identifiers; every refusal one line."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError, DataError
from serve.realized import NoScoresError, ScoresUnreachableError, check_accounts, read_scores, score_files
from serve.realized.scores import MISSING_ACCOUNTS_MAX

T = pd.Timestamp


def _scores(day: str, n: int = 4, ids: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"account_id": ids or [f"a{i}" for i in range(n)], "as_of": T(day),
                         "score": np.linspace(0.9, 0.1, n), "pql_tier": pd.array([1, 1, 2, None][:n], dtype="Int64"),
                         "rule_busy": [True, False, True, False][:n], "model_version": "3"})


def _duckdb(path, frame: pd.DataFrame, table: str = "pql_scores"):
    with duckdb.connect(str(path)) as con:
        con.register("days", frame)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM days')
    return path


def test_scores_are_read_from_files_a_day_or_a_database(tmp_path, caplog):
    for day in ("2024-01-01", "2024-01-08"):
        _scores(day).to_parquet(tmp_path / f"scores_{day}.parquet")
    (tmp_path / "scores_latest.parquet").write_bytes(b"not a day")
    with caplog.at_level(logging.WARNING, "pql"):
        assert [str(t.date()) for t, _ in score_files(str(tmp_path / "scores_{date}.parquet"))] == ["2024-01-01",
                                                                                                "2024-01-08"]
    assert "scores_latest.parquet" in caplog.text  # skipped, and said so
    frame = read_scores({"scores_dir": str(tmp_path), "scores_pattern": "scores_{date}.parquet"})
    assert len(frame) == 8 and frame["as_of"].nunique() == 2
    db = _duckdb(tmp_path / "scores.duckdb", pd.concat([_scores("2024-01-01"), _scores("2024-01-08")]))
    assert len(read_scores({"scores": str(db), "scores_table": "pql_scores"})) == 8
    lake = tmp_path / "lake"  # engine=spark's layout: a Parquet dataset partitioned by as_of_date
    for day in ("2024-01-01", "2024-01-08"):
        (lake / f"as_of_date={day}").mkdir(parents=True)
        _scores(day).to_parquet(lake / f"as_of_date={day}" / "part-0.parquet")
    (lake / "_SUCCESS").touch()
    frame = read_scores({"scores": str(lake)})
    assert len(frame) == 8 and "as_of_date" not in frame.columns and frame["as_of"].nunique() == 2


@pytest.mark.parametrize("config, error, words", [
    ({}, ConfigError, "scores_dir=FOLDER"),
    ({"scores": "scores.parquet"}, ConfigError, "has no {date}"),
    ({"scores": "nowhere/{date}.parquet"}, NoScoresError, "no file matches"),
])
def test_a_wrong_location_is_one_clear_error(config, error, words):
    with pytest.raises(error, match=words.replace("{", r"\{").replace("}", r"\}")):
        read_scores(config)


def test_a_file_that_is_not_a_scores_table_is_refused(tmp_path):
    pd.DataFrame({"account_id": ["a"], "as_of": [T("2024-01-01")]}).to_csv(tmp_path / "s_2024-01-01.csv")
    with pytest.raises(ConfigError, match="lacks"):
        read_scores({"scores": str(tmp_path / "s_{date}.csv")})
    (tmp_path / "t_2024-01-01.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(DataError, match="t_2024-01-01.parquet.*cannot be read"):
        read_scores({"scores": str(tmp_path / "t_{date}.parquet")})


# -- ids are text --------------------------------------------------------------------------------------------

def test_zero_padded_ids_of_a_csv_stay_text(tmp_path):
    _scores("2024-01-01", ids=["000000", "000001", "0042", "7"]).to_csv(tmp_path / "scores_2024-01-01.csv",
                                                                         index=False)
    frame = read_scores({"scores": str(tmp_path / "scores_{date}.csv")})
    assert frame["account_id"].tolist() == ["000000", "000001", "0042", "7"]
    assert frame["model_version"].tolist() == ["3"] * 4


# -- one row per account and day -----------------------------------------------------------------------------

def test_a_stray_copy_is_skipped_naming_it(tmp_path, caplog):
    _scores("2024-08-05").to_parquet(tmp_path / "scores_2024-08-05.parquet")
    shutil.copy(tmp_path / "scores_2024-08-05.parquet", tmp_path / "scores_2024-08-05 (copy).parquet")
    for config in ({"scores_dir": str(tmp_path)}, {"scores": str(tmp_path)}):  # a folder of days, either way
        caplog.clear()
        with caplog.at_level(logging.WARNING, "pql"):
            assert len(read_scores(config)) == 4
        assert "scores_2024-08-05 (copy).parquet" in caplog.text


def test_a_file_outside_the_partitions_of_a_dataset_is_skipped(tmp_path, caplog):
    (tmp_path / "as_of_date=2024-08-05").mkdir()
    _scores("2024-08-05").to_parquet(tmp_path / "as_of_date=2024-08-05" / "part-0.parquet")
    _scores("2024-08-05").to_parquet(tmp_path / "part-0 (copy).parquet")
    with caplog.at_level(logging.WARNING, "pql"):
        assert len(read_scores({"scores": str(tmp_path)})) == 4
    assert "part-0 (copy).parquet" in caplog.text


def test_an_account_and_day_read_twice_counts_once_naming_the_files(tmp_path, caplog):
    _scores("2024-08-05").to_parquet(tmp_path / "scores_2024-08-05.parquet")
    _scores("2024-08-05").to_parquet(tmp_path / "scores_2024-08-06.parquet")  # a copy renamed to the next day
    with caplog.at_level(logging.WARNING, "pql"):
        frame = read_scores({"scores_dir": str(tmp_path)})
    assert len(frame) == 4 and not frame.duplicated(["account_id", "as_of"]).any()
    assert "4 row(s) repeat" in caplog.text
    assert "scores_2024-08-05.parquet" in caplog.text and "scores_2024-08-06.parquet" in caplog.text


def test_two_runs_of_one_day_in_a_database_keep_the_newest(tmp_path):
    early, late = _scores("2024-08-05 02:00"), _scores("2024-08-05 14:00").assign(score=0.5)
    db = _duckdb(tmp_path / "scores.duckdb", pd.concat([early, late], ignore_index=True))
    frame = read_scores({"scores": str(db)})
    assert len(frame) == 4 and (frame["as_of"] == T("2024-08-05 14:00")).all() and (frame["score"] == 0.5).all()


# -- probabilities -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [[np.nan], [-0.2], [1.5], [np.nan, -0.2, 1.5]])
def test_impossible_probabilities_are_refused_naming_file_column_and_rows(tmp_path, bad):
    frame = _scores("2024-08-05")
    frame.loc[:len(bad) - 1, "score"] = bad
    frame.to_parquet(tmp_path / "scores_2024-08-05.parquet")
    with pytest.raises(DataError, match=rf"scores_2024-08-05.parquet', column 'score': {len(bad)} rows are not "
                                        r"probabilities in \[0, 1\]"):
        read_scores({"scores_dir": str(tmp_path)})


def test_text_in_the_score_column_of_a_csv_is_refused(tmp_path):
    _scores("2024-08-05").astype({"score": object}).assign(score=["0.1", "high", "0.3", "0.2"]).to_csv(
        tmp_path / "scores_2024-08-05.csv", index=False)
    with pytest.raises(DataError, match="column 'score': 1 rows"):
        read_scores({"scores": str(tmp_path / "scores_{date}.csv")})


def test_probabilities_of_a_database_are_checked_too(tmp_path):
    db = _duckdb(tmp_path / "scores.duckdb", _scores("2024-08-05").assign(score=[0.1, 0.2, 7.0, 0.3]))
    with pytest.raises(DataError, match=r"scores.duckdb \(table pql_scores\)', column 'score': 1 rows"):
        read_scores({"scores": str(db)})


# -- table names and databases -------------------------------------------------------------------------------

@pytest.mark.parametrize("scores", ["scores.duckdb", "sqlite:///{tmp}/scores.db"])
def test_a_hostile_table_name_is_refused_before_any_sql(tmp_path, scores):
    db = _duckdb(tmp_path / "scores.duckdb", _scores("2024-08-05"))
    written = tmp_path / "pwned.csv"
    hostile = f"pql_scores\"; COPY (SELECT 42) TO '{written}'; SELECT * FROM \"pql_scores"
    source = str(db) if scores.endswith(".duckdb") else scores.format(tmp=tmp_path)
    with pytest.raises(ConfigError, match="^scores_table: .* is not a table name"):
        read_scores({"scores": source, "scores_table": hostile})
    assert not written.exists() and not (tmp_path / "scores.db").exists()


def test_a_missing_table_or_database_is_no_scores(tmp_path):
    db = _duckdb(tmp_path / "scores.duckdb", _scores("2024-08-05"))
    with pytest.raises(NoScoresError, match="has no table 'other' \\(scores_table\\)"):
        read_scores({"scores": str(db), "scores_table": "other"})
    with pytest.raises(NoScoresError, match="does not exist"):
        read_scores({"scores": f"sqlite:///{tmp_path}/nowhere.db"})
    assert not (tmp_path / "nowhere.db").exists()  # SQLite would have created it
    (tmp_path / "not.duckdb").write_text("hello")
    with pytest.raises(ConfigError, match="cannot open .* as a DuckDB database"):
        read_scores({"scores": str(tmp_path / "not.duckdb")})


def test_a_sqlite_database_is_read_by_the_contract(tmp_path):
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/scores.db")
    _scores("2024-08-05", ids=["0001", "0002", "0003", "0004"]).to_sql("pql_scores", engine, index=False)
    engine.dispose()
    frame = read_scores({"scores": f"sqlite:///{tmp_path}/scores.db"})
    assert frame["account_id"].tolist() == ["0001", "0002", "0003", "0004"]
    assert frame["as_of"].dt.tz is None and (frame["as_of"] == T("2024-08-05")).all()


def test_a_database_held_by_another_process_is_exit_4(tmp_path):
    db = _duckdb(tmp_path / "scores.duckdb", _scores("2024-08-05"))
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; con = duckdb.connect({str(db)!r}); "
                                                     f"print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ScoresUnreachableError, match="another process holds") as caught:
            read_scores({"scores": str(db)})
        assert caught.value.exit_code == 4 and "\n" not in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


# -- the scores' accounts against the data source ------------------------------------------------------------

def test_accounts_unknown_to_the_data_source_above_the_threshold_are_an_error():
    scores = _scores("2024-08-05", n=4)
    with pytest.raises(DataError, match=r"column 'account_id': 4 of 4 scored accounts \(100.0%\) .* e.g. 'a0'"):
        check_accounts(scores, pd.Series(["x", "y"]))
    with pytest.raises(DataError, match="1 of 4"):
        check_accounts(scores, pd.Series(["a1", "a2", "a3"]))


def test_a_few_unknown_accounts_are_a_warning(caplog):
    n = 100
    scores = pd.DataFrame({"account_id": [f"{i:04d}" for i in range(n)], "as_of": T("2024-08-05"), "score": 0.5})
    known = pd.Series(range(int(n * (1 - MISSING_ACCOUNTS_MAX)))).map("{:04d}".format)  # ids compared as text
    with caplog.at_level(logging.WARNING, "pql"):
        check_accounts(scores, known)
    assert "5 of 100 scored accounts" in caplog.text and "'0095'" in caplog.text
    caplog.clear()
    check_accounts(scores, pd.Series([f"{i:04d}" for i in range(n)]))
    assert not caplog.text
