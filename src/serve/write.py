"""Writing the scores table: files, a DuckDB database, or any SQLAlchemy URL -- atomically.

* ``.parquet`` / ``.csv``: the file holds one scoring day, written to a temporary file and renamed
  over the old one (``{date}`` in the path gives one file per day: ``scores/{date}.parquet``).
* ``.duckdb``: table ``output_table``; that day's rows are deleted and inserted in one transaction.
* a SQLAlchemy URL (``sqlite:///scores.db``, ``postgresql://...``): the same, in one transaction.

Either way a crash leaves the previous output intact, and re-running a day replaces its rows.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.errors import ConfigError
from features.io import FILE_FORMATS, write_file
from features.sources import quote


def target(output: str, as_of: pd.Timestamp) -> str:
    """The output with ``{date}`` filled in (the as-of date, YYYY-MM-DD)."""
    return str(output).replace("{date}", f"{as_of:%Y-%m-%d}")


def write_scores(scores: pd.DataFrame, output: str, table: str, as_of: pd.Timestamp) -> str:
    """Write the scores of one as-of to ``output``; returns where they went."""
    output = target(output, as_of)
    if "://" in output:
        return _write_sql(scores, output, table, as_of)
    suffix = Path(output).suffix.lower()
    if suffix == ".duckdb":
        return _write_duckdb(scores, output, table, as_of)
    if suffix in FILE_FORMATS:
        return str(write_file(scores, output))
    raise ConfigError(f"output: '{output}' is not a .parquet/.csv/.duckdb file or a SQLAlchemy URL")


def _write_duckdb(scores: pd.DataFrame, path: str, table: str, as_of: pd.Timestamp) -> str:
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(path)
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
