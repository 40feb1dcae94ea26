"""Writing the scores table: files, a DuckDB database, or any SQLAlchemy URL -- atomically.

* ``.parquet`` / ``.csv``: the file holds one scoring day, written to a temporary file and renamed
  over the old one (``{date}`` in the path gives one file per day: ``scores/{date}.parquet``).
* ``.duckdb``: table ``output_table``; that day's rows are deleted and inserted in one transaction.
* a SQLAlchemy URL (``sqlite:///scores.db``, ``postgresql://...``): the same, in one transaction.

Either way a crash leaves the previous output intact, and re-running a day replaces its rows.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from features.errors import ConfigError, PipelineError
from features.io import FILE_FORMATS, check_output, write_file
from features.sources import first_line, quote

OUTPUT_FORMATS = (*FILE_FORMATS, ".duckdb")
LOCK_WAIT_SECONDS = 30.0  # serve.yaml: output_wait_seconds


class OutputBusyError(PipelineError):
    """Another job holds the output database (exit code 4, like a busy tracking store)."""

    exit_code = 4


def target(output: str, as_of: pd.Timestamp) -> str:
    """The output with ``{date}`` filled in (the as-of date, YYYY-MM-DD)."""
    return str(output).replace("{date}", f"{as_of:%Y-%m-%d}")


def check_target(output: str, as_of: pd.Timestamp, inputs: list[Path]) -> str:
    """The output of ``as_of``, checked before any work: a supported kind, a writable file that is
    not a folder and not an input of the data source (ConfigError otherwise)."""
    output = target(output, as_of)
    if "://" in output:
        if output.startswith("sqlite:///"):
            check_output(output[len("sqlite:///"):], inputs, None)
        return output
    check_output(output, inputs, OUTPUT_FORMATS)
    return output


def write_scores(scores: pd.DataFrame, output: str, table: str, as_of: pd.Timestamp,
                 wait_seconds: float = LOCK_WAIT_SECONDS) -> str:
    """Write the scores of one as-of to ``output``; returns where they went."""
    output = target(output, as_of)
    if "://" in output:
        return _write_sql(scores, output, table, as_of)
    suffix = Path(output).suffix.lower()
    if suffix == ".duckdb":
        return _write_duckdb(scores, output, table, as_of, wait_seconds)
    if suffix in FILE_FORMATS:
        return str(write_file(scores, output))
    raise ConfigError(f"output: '{output}' is not a .parquet/.csv/.duckdb file or a SQLAlchemy URL")


def _connect_waiting(path: str, wait_seconds: float):
    """Open a DuckDB file for writing; while another process holds its lock, retry until ``wait_seconds``."""
    import duckdb

    deadline = time.monotonic() + max(float(wait_seconds), 0.0)
    pause = 0.1
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise ConfigError(f"output: cannot open '{path}' as a DuckDB database: {first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise OutputBusyError(f"output: another job holds '{path}' (waited {wait_seconds:g} s, "
                                      f"output_wait_seconds); try again when it is done") from exc
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 2.0)
        except duckdb.Error as exc:
            raise ConfigError(f"output: cannot open '{path}' as a DuckDB database: {first_line(exc)}") from exc


def _write_duckdb(scores: pd.DataFrame, path: str, table: str, as_of: pd.Timestamp,
                  wait_seconds: float = LOCK_WAIT_SECONDS) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _connect_waiting(path, wait_seconds)
    try:
        con.register("new_scores", scores)
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} AS SELECT * FROM new_scores WHERE false")
        con.execute(f"DELETE FROM {quote(table)} WHERE as_of = ?", [as_of.to_pydatetime()])
        con.execute(f"INSERT INTO {quote(table)} BY NAME SELECT * FROM new_scores")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return f"{path} (table {table})"


def _write_sql(scores: pd.DataFrame, url: str, table: str, as_of: pd.Timestamp) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:  # one transaction: delete that day's rows, insert the new ones
            if sa.inspect(conn).has_table(table):
                existing = sa.Table(table, sa.MetaData(), autoload_with=conn)
                conn.execute(existing.delete().where(existing.c.as_of == as_of.to_pydatetime()))
            scores.to_sql(table, conn, if_exists="append", index=False, chunksize=50_000)
    finally:
        engine.dispose()
    return f"{engine.url.render_as_string(hide_password=True)} (table {table})"
