"""Writing the scores table: files, a DuckDB database, or any SQLAlchemy URL -- atomically.

* ``.parquet`` / ``.csv``: the file holds one scoring day, written to a temporary file and renamed
  over the old one, then given the permissions the umask allows (``0o666 & ~umask``, like any new
  file). ``{date}`` in the path gives one file per day (``scores/{date}.parquet``); so does
  ``output_dir`` with ``output_pattern`` (default ``scores_{date}.parquet``), which needs no quoting
  on the command line.
* ``.duckdb``, or a SQLAlchemy URL (``sqlite:///scores.db``, ``postgresql://user@host/db``): table
  ``output_table``, typed by the scores schema and evolving with the model; that day's rows are deleted
  and today's inserted in one transaction (:mod:`serve.database`, :mod:`serve.tables`).

Either way a crash leaves the previous output intact, and re-running a day replaces its rows.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from features.data.sql import identifier
from features.errors import ConfigError
from features.io import FILE_FORMATS, check_output, write_file
from serve.database import (LOCK_WAIT_SECONDS, OutputBusyError, OutputTableError, engine_for, reach, sql_url,
                            write_duckdb, write_sql)

OUTPUT_FORMATS = (*FILE_FORMATS, ".duckdb")
log = logging.getLogger("pql")
KEY = "account_id"
DEFAULT_OUTPUT = "scores.parquet"  # neither output nor output_dir given
DEFAULT_PATTERN = "scores_{date}.parquet"
PLACEHOLDERS = ("date", "as_of")  # both: the as-of date, YYYY-MM-DD

__all__ = ["output_of", "target", "with_source_key", "check_target", "write_scores", "honour_umask", "current_umask", "sql_url",
           "OutputBusyError", "OutputTableError", "LOCK_WAIT_SECONDS", "OUTPUT_FORMATS"]


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


def with_source_key(frame: pd.DataFrame, key: str | None) -> pd.DataFrame:
    """``frame`` with the data source's own name for the account key (``data.columns.accounts.account_id``,
    say ``workspace_id``) beside ``account_id``, holding the same ids, so a CRM sync finds the name it knows;
    ``frame`` itself when the key is ``account_id``. A name the table already has is left alone (a warning).

    >>> list(with_source_key(pd.DataFrame({"account_id": ["7"], "score": [.5]}), "workspace_id").columns)
    ['account_id', 'workspace_id', 'score']
    """
    if key in (None, "", KEY) or KEY not in frame.columns:
        return frame
    if key in frame.columns:
        log.warning("output: the accounts' key column '%s' is also a column of the scores; written as account_id "
                    "only", key)
        return frame
    out = frame.copy()
    out.insert(out.columns.get_loc(KEY) + 1, str(key), out[KEY])
    return out


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


def check_target(output: str, as_of: pd.Timestamp, inputs: list[Path], table: str | None = None) -> str:
    """The output of ``as_of``, checked before any work: a supported kind, a writable file that is
    not a folder and not an input of the data source (ConfigError otherwise); a database server
    (any URL but SQLite's) is connected to once, so that an unreachable one stops the run at once;
    ``table`` (``output_table``), when given, is a plain identifier for a database output."""
    output = target(output, as_of)
    if table is not None and ("://" in output or Path(output).suffix.lower() == ".duckdb"):
        identifier(table, "output_table")
    if "://" in output:
        if output.startswith("sqlite:///"):
            check_output(output[len("sqlite:///"):], inputs, None)
        url = sql_url(output)
        engine = engine_for(url)
        try:
            if url.get_backend_name() != "sqlite":
                reach(engine, url)
        finally:
            engine.dispose()
        return output
    check_output(output, inputs, OUTPUT_FORMATS)
    return output


def write_scores(scores: pd.DataFrame, output: str, table: str, as_of: pd.Timestamp,
                 wait_seconds: float = LOCK_WAIT_SECONDS) -> str:
    """Write the scores of one as-of to ``output``; returns where they went."""
    output = target(output, as_of)
    if "://" in output:
        return write_sql({table: scores}, output, as_of)
    suffix = Path(output).suffix.lower()
    if suffix == ".duckdb":
        return write_duckdb({table: scores}, output, as_of, wait_seconds)
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
