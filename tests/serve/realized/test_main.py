"""python -m serve.realized on a small hand-made world: ids read as text, scores checked against the data
source, and every refusal one line with its documented exit code and nothing written."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from serve.write import write_scores

ROOT = Path(__file__).parents[3]
DAY = pd.Timestamp("2024-02-05")
IDS = [f"{i:06d}" for i in range(180)]  # zero-padded: read as numbers they all become 0 .. 179


def _source(folder: Path, ids: list[str] = IDS) -> Path:
    """A data source (CSV files) whose first 9 accounts convert within 30 days of DAY."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"account_id": ids, "created_at": "2024-01-01"}).to_csv(folder / "accounts.csv", index=False)
    pd.DataFrame({"account_id": [*ids, ids[0]], "event": "task",
                  "timestamp": ["2024-01-05"] * len(ids) + ["2024-04-30"]}).to_csv(folder / "events.csv", index=False)
    pd.DataFrame({"account_id": ids[:9], "converted_at": "2024-02-20"}).to_csv(folder / "conversions.csv",
                                                                               index=False)
    return folder


def _scores(ids: list[str] = IDS, day: pd.Timestamp = DAY) -> pd.DataFrame:
    """One night of scores in the batch job's shape (no model_version: horizon and capacity are given)."""
    return pd.DataFrame({"account_id": ids, "as_of": day, "score": np.linspace(0.9, 0.1, len(ids)),
                         "pql_tier": pd.array([1] * 20 + [None] * (len(ids) - 20), dtype="Int64"),
                         "rule_busy": [i % 2 == 0 for i in range(len(ids))]})


def _realized(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [f"data.dir={tmp_path / 'source'}", "horizon_days=30", "capacity_per_week=5",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", f"hydra.run.dir={tmp_path / 'run'}", *overrides]
    return subprocess.run([sys.executable, "-m", "serve.realized", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def _refused(done: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The one-line error of a refused run (and nothing written), returned for further checks."""
    lines = [line for line in done.stderr.strip().splitlines() if line.startswith("error:")]
    assert done.returncode == code, done.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "run" / "realized.csv").exists()
    assert not list((tmp_path / "run").glob("*.tmp")) and not list((tmp_path / "run").glob(".*.tmp"))


def _table(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "run" / "realized.csv", dtype={"name": str}).set_index(["group", "name"])


def test_the_batch_jobs_csv_with_zero_padded_ids_counts_the_converters(tmp_path):
    _source(tmp_path / "source")
    write_scores(_scores(), str(tmp_path / "scores" / "scores_{date}.csv"), "pql_scores", DAY)
    done = _realized(tmp_path, f"scores_dir={tmp_path / 'scores'}", 'scores_pattern="scores_{date}.csv"')
    assert done.returncode == 0, done.stderr[-3000:]
    row = _table(tmp_path).loc[("all", "every account scored")]
    assert (row["accounts"], row["converted"]) == (180, 9)


def test_scores_of_accounts_not_in_the_data_source_are_refused(tmp_path):
    _source(tmp_path / "source", [f"x{i}" for i in range(180)])  # another source: none of the scored ids
    _scores().to_parquet((tmp_path / "scores").mkdir() or tmp_path / "scores" / f"scores_{DAY.date()}.parquet")
    line = _refused(_realized(tmp_path, f"scores_dir={tmp_path / 'scores'}"), 3, "180 of 180", "'000000'",
                    "data source")
    assert "account_id" in line
    _nothing_written(tmp_path)


def test_a_stray_copy_in_the_scores_folder_is_not_counted_twice(tmp_path):
    _source(tmp_path / "source")
    folder = tmp_path / "scores"
    folder.mkdir()
    _scores().to_parquet(folder / f"scores_{DAY.date()}.parquet")
    shutil.copy(folder / f"scores_{DAY.date()}.parquet", folder / f"scores_{DAY.date()} (copy).parquet")
    for scores in (f"scores_dir={folder}", f"scores={folder}"):  # the folder also given as a dataset
        done = _realized(tmp_path, scores)
        assert done.returncode == 0, done.stderr[-3000:]
        assert _table(tmp_path).loc[("all", "every account scored"), "accounts"] == 180
        assert "(copy).parquet" in done.stdout + done.stderr  # the warning names the skipped file


def test_impossible_probabilities_are_refused_naming_file_column_and_rows(tmp_path):
    _source(tmp_path / "source")
    folder = tmp_path / "scores"
    folder.mkdir()
    bad = _scores()
    bad.loc[:2, "score"] = [np.nan, -0.2, 1.5]
    bad.to_parquet(folder / f"scores_{DAY.date()}.parquet")
    _refused(_realized(tmp_path, f"scores_dir={folder}"), 3, f"scores_{DAY.date()}.parquet", "'score'", "3 rows")
    _nothing_written(tmp_path)


def test_a_hostile_table_name_is_refused_and_never_run(tmp_path):
    _source(tmp_path / "source")
    db = tmp_path / "scores.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("night", _scores())
        con.execute("CREATE TABLE pql_scores AS SELECT * FROM night")
    written = tmp_path / "pwned.csv"
    hostile = f"pql_scores\"; COPY (SELECT 42) TO '{written}'; SELECT * FROM \"pql_scores"
    override = 'scores_table="' + hostile.replace('"', '\\"') + '"'  # Hydra's quoting: the name arrives whole
    _refused(_realized(tmp_path, f"scores={db}", override), 2, "scores_table")
    assert not written.exists()
    _nothing_written(tmp_path)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_scores_database_is_exit_4(tmp_path):
    pytest.importorskip("psycopg")
    _source(tmp_path / "source")
    url = f"postgresql://pql:secret@127.0.0.1:{_closed_port()}/crm"
    line = _refused(_realized(tmp_path, f"scores={url}"), 4, "scores:", "127.0.0.1")
    assert "secret" not in line
    _nothing_written(tmp_path)
