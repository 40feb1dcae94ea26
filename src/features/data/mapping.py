"""Mapping a source's columns onto the contract: a view ``canon_<table>`` per table.

Every ``canon_<table>`` carries the contract's names and types: ``account_id``, timestamps as naive UTC
``TIMESTAMP``, ``quantity`` and ``amount`` as ``DOUBLE``. Beside each canonical time column ``<col>`` the
view keeps the source value as ``<col>__raw`` (and ``quantity__raw``, ``amount__raw``) so validation can
tell a missing value from an unparseable one.

Time columns are read as they are (``TIMESTAMP``, ``DATE``; aware values converted to UTC), as ISO-8601
text, as epoch numbers (``data.columns.<table>.<column>_unit: s|ms|us``) or as text in a strftime format
(``data.columns.<table>.<column>_format: '%d/%m/%Y'``, DuckDB's ``strptime``). Naive values are wall time
in ``data.timezone``.

>>> print(timestamp_sql("ts", "VARCHAR", None, "UTC", "events", TimeFormat("%d/%m/%Y", "k", False)))
try_strptime(CAST("ts" AS VARCHAR), '%d/%m/%Y')
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pandas as pd

from features.config import (ATTRIBUTE_TABLES, OPTIONAL_COLUMNS, OPTIONAL_TABLES, REQUIRED_COLUMNS, TABLES, TIME_COLUMN,
                             DataConfig)
from features.data.sources import Source, encoding_of, open_frames
from features.data.sql import first_line, literal, quote, shown
from features.errors import ConfigError, DataError

_EPOCH_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


@dataclass(frozen=True)
class TimeFormat:
    """A strftime format that reads a time column's text, as checked by DuckDB."""

    text: str  # e.g. '%d/%m/%Y %H:%M'
    key: str  # the config key that gave it (messages name it)
    aware: bool  # it reads a zone or an offset (%z, %Z): values are converted to UTC, not read in data.timezone


def time_format(con: duckdb.DuckDBPyConnection, settings: Mapping, column: str, key: str) -> TimeFormat | None:
    """The format ``settings[<column>_format]`` (None: not set), checked by DuckDB; ``key`` is the column's
    config key (``data.columns.events.timestamp``). A format DuckDB cannot use, or one given together
    with ``<column>_unit``, is a ConfigError naming the key."""
    value = settings.get(f"{column}_format")
    if value is None:
        return None
    text = str(value)
    if settings.get(f"{column}_unit") is not None:
        raise ConfigError(f"{key}_format: {text!r} reads text, {key}_unit reads epoch numbers: set one of them")
    try:  # DuckDB checks a format when it binds it: a NULL input is enough
        kind = con.execute(f"SELECT typeof(try_strptime(NULL::VARCHAR, {literal(text)}))").fetchall()[0][0]
    except duckdb.Error as exc:
        raise ConfigError(f"{key}_format: {shown(text)!r} is not a date format DuckDB reads ({first_line(exc)}); "
                          f"use strftime codes, e.g. %d/%m/%Y %H:%M") from exc
    return TimeFormat(text, f"{key}_format", kind == "TIMESTAMP WITH TIME ZONE")


def format_of(config: DataConfig, table: str) -> str | None:
    """The text of ``data.columns.<table>.<time column>_format`` (None: not set), unchecked."""
    value = config.columns.get(table, {}).get(f"{TIME_COLUMN[table]}_format")
    return None if value is None else str(value)


def timestamp_sql(column: str, dtype: str, unit: str | None, timezone: str, table: str,
                  fmt: TimeFormat | None = None) -> str:
    """SQL turning a source column into a naive-UTC TIMESTAMP; NULL where a value cannot be read."""
    col = quote(column)
    base = dtype.upper().split("(")[0]
    if unit is not None:
        if unit not in _EPOCH_FACTOR:
            raise ConfigError(f"data.columns.{table}.{TIME_COLUMN[table]}_unit: '{unit}' is not one of s, ms, us")
        number = f"TRY_CAST({col} AS DOUBLE)"
        return f"make_timestamp(CAST(round({number} * {_EPOCH_FACTOR[unit]}) AS BIGINT))"
    local = timezone.upper() != "UTC"
    typed = base.startswith("TIMESTAMP") or base == "DATE"
    if fmt is not None:
        if typed:
            raise DataError(table, shown(column), f"holds {dtype} values, not text: a format reads text "
                                                  f"(remove {fmt.key})")
        parsed = f"try_strptime(CAST({col} AS VARCHAR), {literal(fmt.text)})"
        if fmt.aware:
            return f"CAST({parsed} AS TIMESTAMP)"
        return f"CAST(timezone({literal(timezone)}, {parsed}) AS TIMESTAMP)" if local else parsed
    if base == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({col} AS TIMESTAMP)"
    if typed:
        plain = f"CAST({col} AS TIMESTAMP)"
        return f"CAST(timezone({literal(timezone)}, {plain}) AS TIMESTAMP)" if local else plain
    if base == "VARCHAR":
        aware = f"CAST(TRY_CAST({col} AS TIMESTAMPTZ) AS TIMESTAMP)"
        if not local:
            return aware
        naive = f"CAST(timezone({literal(timezone)}, TRY_CAST({col} AS TIMESTAMP)) AS TIMESTAMP)"
        return f"CASE WHEN regexp_matches(trim({col}), '(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') THEN {aware} ELSE {naive} END"
    if base in _NUMERIC:
        raise DataError(table, shown(column), f"holds numbers ({dtype}), not timestamps: set "
                        f"data.columns.{table}.{TIME_COLUMN[table]}_unit to s, ms or us for epoch values")
    raise DataError(table, shown(column), f"is of type {dtype}, which is not a timestamp")


def mapped(config: DataConfig, table: str, name: str) -> str | None:
    """The source column mapped to contract column ``name``, as text (``event=2024`` names column "2024")."""
    value = config.column(table, name)
    return None if value is None else str(value)


def canonical_views(source: Source, config: DataConfig) -> dict[str, list[str]]:
    """Create ``canon_<table>`` views with contract names; returns the other columns of accounts (the fit
    columns) and of users (their titles, roles, ...), per table.

    Raises DataError for a missing required table or column (naming the mapping that pointed at it),
    ConfigError for an unknown time zone or a time format DuckDB cannot use.
    """
    source.read_pending(encoding_of(config))
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"data.timezone: unknown time zone '{config.timezone}'") from exc
    formats = {table: time_format(source.con, config.columns.get(table, {}), TIME_COLUMN[table],
                                  f"data.columns.{table}.{TIME_COLUMN[table]}") for table in TABLES}
    extra: dict[str, list[str]] = {}
    for table in TABLES:
        if table not in source.tables:
            if table in OPTIONAL_TABLES:
                continue
            raise DataError(table, None, source.missing(table))
        available = source.columns(table)
        select, used = _select(config, table, available, formats[table])
        if table in ATTRIBUTE_TABLES:  # every other column: a fit attribute, a user's title, role, ...
            extra[table] = [c for c in available if c not in used]
            select += [quote(c) for c in extra[table]]
        source.con.execute(f"CREATE OR REPLACE VIEW canon_{table} AS SELECT {', '.join(select)} "
                           f"FROM {quote('raw_' + table)}")
    return extra


def _select(config: DataConfig, table: str, available: dict[str, str],
            fmt: TimeFormat | None) -> tuple[list[str], set[str]]:
    """The select list of ``canon_<table>`` over its raw view (columns ``available``: name -> type), and the
    source columns it uses."""
    select, used = [], set()
    for name in REQUIRED_COLUMNS[table] + OPTIONAL_COLUMNS[table]:
        src = mapped(config, table, name)
        if src is None or src not in available:
            if name in REQUIRED_COLUMNS[table] or (src is not None and src != name):
                hint = (f" (data.columns.{table}.{name} = {src!r})" if src != name else
                        f" (name yours with data.columns.{table}.{name}=<your column>)")
                raise DataError(table, shown(src or name), f"is not there{hint}; the table has columns "
                                f"{sorted(available)}")
            continue  # an optional column the table simply does not have
        used.add(src)
        if name == TIME_COLUMN[table]:
            expr = timestamp_sql(src, available[src], config.unit(table), config.timezone, table, fmt)
            select += [f"{expr} AS {name}", f"{quote(src)} AS {name}__raw"]
        elif name == "account_id":
            select.append(f"{quote(src)} AS account_id")
        elif name in ("quantity", "amount"):
            select += [f"TRY_CAST({quote(src)} AS DOUBLE) AS {name}", f"{quote(src)} AS {name}__raw"]
        else:  # event and touch names, user ids: text
            select.append(f"CAST({quote(src)} AS VARCHAR) AS {name}")
    return select, used


def off_midnight(frame: pd.DataFrame | pyarrow.Table, config: DataConfig, table: str) -> tuple[int, int]:
    """The rows of ``frame`` (a log table, or a part of it, in the source's columns; pandas or Arrow) and how many
    of them have a time that is not 00:00 UTC or cannot be read, the time read as :func:`canonical_views` reads it:
    what ``data.duplicates=auto`` decides on (an engine that counts a table in parts adds them up)."""
    time_col = TIME_COLUMN[table]
    column = mapped(config, table, time_col)
    source = open_frames({table: frame[[column]] if isinstance(frame, pd.DataFrame) else frame.select([column])},
                         f"a part of {table}")
    try:
        fmt = time_format(source.con, config.columns.get(table, {}), time_col, f"data.columns.{table}.{time_col}")
        ts = timestamp_sql(column, source.columns(table)[column], config.unit(table), config.timezone, table, fmt)
        n, off = source.con.execute(f"SELECT count(*), count(*) FILTER (WHERE t IS NULL OR t <> date_trunc('day', t)) "
                                    f"FROM (SELECT {ts} AS t FROM {quote('raw_' + table)})").fetchall()[0]
    finally:
        source.con.close()
    return int(n), int(off)
