"""Writing the scores table: files, a DuckDB database, or any SQLAlchemy URL -- atomically.

* ``.parquet`` / ``.csv``: the file holds one scoring day, written to a temporary file and renamed
  over the old one, then given the permissions the umask allows (``0o666 & ~umask``, like any new
  file). ``{date}`` in the path gives one file per day (``scores/{date}.parquet``); so does
  ``output_dir`` with ``output_pattern`` (default ``scores_{date}.parquet``), which needs no quoting
  on the command line.
* ``.duckdb``: table ``output_table``; that day's rows are deleted and inserted in one transaction.
* a SQLAlchemy URL (``sqlite:///scores.db``, ``postgresql://user@host/db``): the same, in one
  transaction. ``postgresql://`` / ``postgres://`` use psycopg 3 (``pip install -e '.[postgres]'``).

Either way a crash leaves the previous output intact, and re-running a day replaces its rows.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import ConfigError, PipelineError
from features.io import FILE_FORMATS, check_output, write_file
from features.data.sql import first_line, quote

OUTPUT_FORMATS = (*FILE_FORMATS, ".duckdb")
LOCK_WAIT_SECONDS = 30.0  # serve.yaml: output_wait_seconds
DEFAULT_OUTPUT = "scores.parquet"  # neither output nor output_dir given
DEFAULT_PATTERN = "scores_{date}.parquet"
PLACEHOLDERS = ("date", "as_of")  # both: the as-of date, YYYY-MM-DD
POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_EXTRA = "pip install -e '.[postgres]'"
CONNECT_TIMEOUT_S = 15


class OutputBusyError(PipelineError):
    """Another job holds the output database (exit code 4, like a busy tracking store)."""

    exit_code = 4


def output_of(config: dict[str, Any]) -> str:
    """The output a serve config asks for: ``output`` (a file or URL), or ``output_dir`` joined with
    ``output_pattern`` (one file per day), or ``scores.parquet`` when neither is given.

    >>> output_of({"output": None, "output_dir": "/srv/scores", "output_pattern": "scores_{date}.csv"})
    '/srv/scores/scores_{date}.csv'
    >>> output_of({"output": None, "output_dir": None})
    'scores.parquet'
    """
    output, folder = config.get("output"), config.get("output_dir")
    if folder not in (None, ""):
        if output not in (None, ""):
            raise ConfigError(f"output={output} and output_dir={folder}: give one of them (output_dir writes "
                              f"output_pattern into that folder, one file per day)")
        pattern = str(config.get("output_pattern") or DEFAULT_PATTERN)
        if "/" in pattern or "://" in pattern:
            raise ConfigError(f"output_pattern: '{pattern}' must be a file name (the folder is output_dir)")
        return str(Path(str(folder)).expanduser() / pattern)
    return DEFAULT_OUTPUT if output in (None, "") else str(output)


def target(output: str, as_of: pd.Timestamp) -> str:
    """The output with ``{date}`` (or ``{as_of}``) filled in: the as-of date, YYYY-MM-DD.

    >>> target("scores/{date}.parquet", pd.Timestamp("2024-12-02 02:15"))
    'scores/2024-12-02.parquet'
    """
    output = str(output)
    unknown = sorted({m for m in re.findall(r"\{([^{}]*)\}", output) if m not in PLACEHOLDERS})
    if unknown:
        raise ConfigError(f"output: '{output}' has {', '.join('{' + u + '}' for u in unknown)}; "
                          f"the path may hold {{date}} (the as-of date, YYYY-MM-DD) and nothing else in braces")
    day = f"{as_of:%Y-%m-%d}"
    return output.replace("{date}", day).replace("{as_of}", day)


def sql_url(url: str):
    """A SQLAlchemy URL object; ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.

    >>> sql_url("postgresql://pql@db/crm").render_as_string()
    'postgresql+psycopg://pql@db/crm'
    """
    import sqlalchemy as sa

    scheme, sep, rest = url.partition("://")
    if scheme.lower() in POSTGRES_SCHEMES:
        url = f"postgresql+psycopg://{rest}"
    try:
        return sa.engine.make_url(url)
    except Exception as exc:  # sa.exc.ArgumentError and friends
        raise ConfigError(f"output: '{_hide_password(url)}' is not a SQLAlchemy URL: {first_line(exc)}") from exc


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@/]+@", r"\1***@", url)


def _engine(url):
    """An engine for ``url`` (a URL object); a missing driver is a ConfigError naming what to install."""
    import sqlalchemy as sa

    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
    try:
        return sa.create_engine(url, connect_args=connect_args)
    except ImportError as exc:  # NoSuchModuleError is an ArgumentError; a missing DBAPI is an ImportError
        hint = f": {POSTGRES_EXTRA}" if url.get_backend_name() == "postgresql" else ""
        raise ConfigError(f"output: no driver for '{url.drivername}' is installed ({first_line(exc)}){hint}") from exc
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"output: cannot use '{url.render_as_string(hide_password=True)}': "
                          f"{first_line(exc)}") from exc


def check_target(output: str, as_of: pd.Timestamp, inputs: list[Path]) -> str:
    """The output of ``as_of``, checked before any work: a supported kind, a writable file that is
    not a folder and not an input of the data source (ConfigError otherwise); a database server
    (any URL but SQLite's) is connected to once, so that an unreachable one stops the run at once."""
    output = target(output, as_of)
    if "://" in output:
        if output.startswith("sqlite:///"):
            check_output(output[len("sqlite:///"):], inputs, None)
        url = sql_url(output)
        engine = _engine(url)
        try:
            if url.get_backend_name() != "sqlite":
                _reach(engine, url)
        finally:
            engine.dispose()
        return output
    check_output(output, inputs, OUTPUT_FORMATS)
    return output


def _reach(engine, url) -> None:
    import sqlalchemy as sa

    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise OutputBusyError(f"output: cannot connect to {url.render_as_string(hide_password=True)}: "
                              f"{_dbapi_line(exc)}") from exc


def _dbapi_line(exc) -> str:
    """The driver's own first line (not SQLAlchemy's wrapper with the statement and a link)."""
    return first_line(getattr(exc, "orig", None) or exc)


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
        path = write_file(scores, output)
        honour_umask(path)
        return str(path)
    raise ConfigError(f"output: '{output}' is not a .parquet/.csv/.duckdb file or a SQLAlchemy URL")


def current_umask() -> int:
    """The process umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike) -> None:
    """Give a file written through a temporary file (created ``0o600``) the mode a new file gets:
    ``0o666 & ~umask`` (``-rw-r--r--`` under umask 022)."""
    os.chmod(path, 0o666 & ~current_umask())


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


def _write_sql(scores: pd.DataFrame, output: str, table: str, as_of: pd.Timestamp) -> str:
    import sqlalchemy as sa

    url = sql_url(output)
    engine = _engine(url)
    where = f"{url.render_as_string(hide_password=True)} (table {table})"
    try:
        with engine.begin() as conn:  # one transaction: delete that day's rows, insert the new ones
            if engine.dialect.name == "postgresql":  # two jobs writing the same table queue here
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"pql:{table}"})
            if sa.inspect(conn).has_table(table):
                existing = sa.Table(table, sa.MetaData(), autoload_with=conn)
                conn.execute(existing.delete().where(existing.c.as_of == as_of.to_pydatetime()))
            scores.to_sql(table, conn, if_exists="append", index=False, chunksize=50_000)
    except sa.exc.OperationalError as exc:  # the server went away, a timeout, a full disk: nothing committed
        raise OutputBusyError(f"output: writing to {where} failed, the previous rows are kept: "
                              f"{_dbapi_line(exc)}") from exc
    finally:
        engine.dispose()
    return where
