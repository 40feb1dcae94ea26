"""Writing the scores (serve.write): file permissions follow the umask, a date in the output path, PostgreSQL
URLs and a missing driver named as the extra to install, and a busy DuckDB file waited for within a bound.
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.errors import ConfigError
from serve.write import OutputBusyError, check_target, output_of, target, write_scores


ROOT = Path(__file__).resolve().parents[2]


AS_OF = pd.Timestamp("2024-12-02")


def _scores(as_of=AS_OF) -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["a", "b"], "as_of": [as_of, as_of], "score": [0.1, 0.2]})


def _mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("mask, expected", [(0o022, "-rw-r--r--"), (0o027, "-rw-r-----"), (0o002, "-rw-rw-r--")])
def test_output_files_honour_the_umask(tmp_path, suffix, mask, expected):
    out = tmp_path / f"scores{suffix}"
    old = os.umask(mask)
    try:
        write_scores(_scores(), str(out), "pql_scores", AS_OF)
        assert _mode(out) == expected
        out.chmod(0o600)  # yesterday's file, written before this fix: today's run gives it the umask's mode
        write_scores(_scores(), str(out), "pql_scores", AS_OF)
        assert _mode(out) == expected
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind


def test_output_dir_with_a_pattern_gives_one_file_per_day():
    config = {"output": None, "output_dir": "/srv/scores", "output_pattern": "scores_{date}.parquet"}
    assert target(output_of(config), pd.Timestamp("2025-06-09 02:15")) == "/srv/scores/scores_2025-06-09.parquet"
    assert target("s/{as_of}.csv", AS_OF) == "s/2024-12-02.csv"
    assert output_of({"output": None, "output_dir": None}) == "scores.parquet"  # the default is unchanged
    assert output_of({"output": "x.csv", "output_dir": None}) == "x.csv"


def test_output_dir_mistakes_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="give one of them"):
        output_of({"output": "x.parquet", "output_dir": "scores"})
    with pytest.raises(ConfigError, match="must be a file name"):
        output_of({"output": None, "output_dir": "scores", "output_pattern": "a/{date}.parquet"})
    with pytest.raises(ConfigError, match=r"\{day\}"):
        check_target(str(tmp_path / "{day}.parquet"), AS_OF, [])


def test_a_missing_postgresql_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    with pytest.raises(ConfigError, match=re.escape("pip install -e '.[postgres]'")) as err:
        check_target("postgresql://pql@db/crm", AS_OF, [])
    assert err.value.exit_code == 2 and "\n" not in str(err.value)


def test_the_postgres_extra_is_declared_and_in_dev():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    psycopg = [r for r in extras["postgres"] if r.startswith("psycopg[binary]")]
    assert psycopg and set(psycopg) <= set(extras["dev"])  # the README's `.[dev]` test command covers it


def _hold(db: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds the DuckDB file open for ``seconds``."""
    script = textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(db)!r})
        print("holding", flush=True)
        time.sleep({seconds})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_duckdb_output_held_by_another_job_is_one_line_after_a_bounded_wait(tmp_path, monkeypatch):
    db = tmp_path / "scores.duckdb"
    holder = _hold(db, 30)  # far longer than the wait: an unbounded wait would write after it, and not raise
    pauses = []
    sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda seconds: (pauses.append(seconds), sleep(seconds)))
    try:
        with pytest.raises(OutputBusyError, match=r"another job holds .*\(waited 1 s, output_wait_seconds\)") as err:
            write_scores(_scores(), str(db), "pql_scores", AS_OF, wait_seconds=1.0)
        assert pauses and all(0 <= p <= 1.0 for p in pauses)  # it retried, never pausing past the bound
        assert err.value.exit_code == 4 and "\n" not in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_duckdb_output_is_written_once_the_other_job_is_done(tmp_path):
    db = tmp_path / "scores.duckdb"
    holder = _hold(db, 1.5)
    try:
        write_scores(_scores(), str(db), "pql_scores", AS_OF, wait_seconds=30)
    finally:
        holder.wait()
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM pql_scores").fetchall() == [(2,)]
    con.close()


def test_a_database_outputs_table_name_is_checked_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="output_table"):
        check_target(str(tmp_path / "scores.duckdb"), AS_OF, [], table="analytics.pql_scores")
    assert check_target(str(tmp_path / "scores.parquet"), AS_OF, [], table="any name: files have no table")
    assert not (tmp_path / "scores.duckdb").exists()


def test_the_sources_key_name_goes_beside_account_id_unless_taken():
    from serve.write import with_source_key

    frame = pd.DataFrame({"account_id": ["a", "b"], "score": [.1, .2]})
    keyed = with_source_key(frame, "workspace_id")
    assert list(keyed.columns) == ["account_id", "workspace_id", "score"] and list(keyed["workspace_id"]) == ["a", "b"]
    assert list(frame.columns) == ["account_id", "score"]  # the input is not changed
    assert with_source_key(frame, "account_id") is frame and with_source_key(frame, "score") is frame
