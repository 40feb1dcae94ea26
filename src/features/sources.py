"""Reading a data source into DuckDB: raw views per table, then canonical views per table.

A source is a folder of files (``data.dir``), a DuckDB database file (``data.duckdb``), a single
raw event export (``data.export``, see :mod:`features.derive`) or, with none of these, the demo
world. Every table ends up as a DuckDB view ``canon_<table>`` whose columns carry the contract's
names and types: ``account_id``, timestamps as naive UTC ``TIMESTAMP``, ``quantity`` as ``DOUBLE``.
Beside each canonical time column ``<col>`` the view keeps the source value as ``<col>__raw``
so validation can tell a missing value from an unparseable one.
"""
from __future__ import annotations

import glob
import os
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .config import OPTIONAL_COLUMNS, OPTIONAL_TABLES, REQUIRED_COLUMNS, TABLES, TIME_COLUMN, DataConfig
from .errors import ConfigError, DataError

# File kinds a folder may hold per table, in the order they are looked for.
# CSV timestamps stay text: DuckDB's sniffer would read naive and aware values of one column as
# TIMESTAMPTZ in the session zone, ignoring data.timezone; sources.timestamp_sql parses them instead.
_CSV = "read_csv('{path}', header = true, auto_type_candidates = ['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'])"
_READERS = {
    ".parquet": "read_parquet('{path}')",
    ".csv": _CSV,
    ".csv.gz": _CSV,
    ".jsonl": "read_json('{path}', format = 'newline_delimited')",
    ".jsonl.gz": "read_json('{path}', format = 'newline_delimited')",
    ".json": "read_json('{path}')",
}
_EPOCH_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


def quote(name: str) -> str:
    """A SQL identifier, safely quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal, safely quoted."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Source:
    """An open DuckDB connection with a ``raw_<table>`` view per table found, and where it came from.

    ``origin[table]`` is the relation the raw view reads (a file view, a temporary table, an
    attached database table or a registered DataFrame).
    """

    con: duckdb.DuckDBPyConnection
    description: str
    origin: dict[str, str]

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.origin)

    def add(self, table: str, relation: str) -> None:
        """Expose ``relation`` as the raw view of ``table``."""
        self.con.execute(f"CREATE OR REPLACE VIEW raw_{table} AS SELECT * FROM {relation}")
        self.origin[table] = relation

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of a raw table."""
        rows = self.con.execute(f"DESCRIBE raw_{table}").fetchall()
        return {r[0]: r[1] for r in rows}


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (so TIMESTAMPTZ -> TIMESTAMP casts give UTC wall time)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _table_file(directory: Path, table: str) -> tuple[str, str] | None:
    """The reader expression and path of a table's file in a folder, if any."""
    for suffix, reader in _READERS.items():
        path = directory / f"{table}{suffix}"
        if path.is_file():
            return reader.format(path=str(path).replace("'", "''")), str(path)
    part_dir = directory / table
    if part_dir.is_dir():
        parts = glob.glob(str(part_dir / "**" / "*.parquet"), recursive=True)
        if parts:
            pattern = str(part_dir / "**" / "*.parquet").replace("'", "''")
            return f"read_parquet('{pattern}', union_by_name = true)", str(part_dir)
    return None


def open_folder(directory: str | os.PathLike, wanted: tuple[str, ...] = TABLES) -> Source:
    """Raw views over ``NAME.parquet|csv|jsonl[.gz]`` or ``NAME/`` (Parquet parts) in a folder."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data.dir: folder '{directory}' does not exist")
    source = Source(connect(), f"folder {path}", {})
    for table in wanted:
        hit = _table_file(path, table)
        if hit is None:
            continue
        reader, _ = hit
        # Parquet is scanned in place; text formats are parsed once into a temporary table,
        # because validation and extraction each read a table again.
        kind = "VIEW" if reader.startswith("read_parquet") else "TEMP TABLE"
        try:
            source.con.execute(f"CREATE {kind} src_{table} AS SELECT * FROM {reader}")
        except duckdb.Error as exc:
            raise DataError(table, None, f"cannot be read from {path}: {exc}") from exc
        source.add(table, f"src_{table}")
    return source


def open_duckdb(database: str | os.PathLike, wanted: tuple[str, ...] = TABLES) -> Source:
    """Raw views over the tables of a DuckDB database file (opened read-only)."""
    path = Path(database).expanduser()
    if not path.is_file():
        raise ConfigError(f"data.duckdb: database file '{database}' does not exist")
    con = connect()
    con.execute(f"ATTACH {literal(str(path))} AS src (READ_ONLY)")
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'").fetchall()}
    source = Source(con, f"DuckDB database {path}", {})
    for table in (t for t in wanted if t in present):
        source.add(table, f"src.{quote(table)}")
    return source


def open_frames(frames: dict, description: str) -> Source:
    """Raw views over in-memory pandas DataFrames (the demo world, tests)."""
    source = Source(connect(), description, {})
    for table, frame in frames.items():
        if frame is not None:
            source.con.register(f"src_{table}", frame)
            source.add(table, f"src_{table}")
    return source


def timestamp_sql(column: str, dtype: str, unit: str | None, timezone: str, table: str) -> str:
    """SQL turning a source column into a naive-UTC TIMESTAMP; NULL where a value cannot be read."""
    col = quote(column)
    base = dtype.upper().split("(")[0]
    if unit is not None:
        if unit not in _EPOCH_FACTOR:
            raise ConfigError(f"data.columns.{table}.{TIME_COLUMN[table]}_unit: '{unit}' is not one of s, ms, us")
        number = f"TRY_CAST({col} AS DOUBLE)"
        return f"make_timestamp(CAST(round({number} * {_EPOCH_FACTOR[unit]}) AS BIGINT))"
    local = timezone.upper() != "UTC"
    if base == "TIMESTAMP WITH TIME ZONE":
        return f"CAST({col} AS TIMESTAMP)"
    if base.startswith("TIMESTAMP") or base == "DATE":
        plain = f"CAST({col} AS TIMESTAMP)"
        return f"CAST(timezone({literal(timezone)}, {plain}) AS TIMESTAMP)" if local else plain
    if base == "VARCHAR":
        aware = f"CAST(TRY_CAST({col} AS TIMESTAMPTZ) AS TIMESTAMP)"
        if not local:
            return aware
        naive = f"CAST(timezone({literal(timezone)}, TRY_CAST({col} AS TIMESTAMP)) AS TIMESTAMP)"
        return f"CASE WHEN regexp_matches(trim({col}), '(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') THEN {aware} ELSE {naive} END"
    if base in _NUMERIC:
        raise DataError(table, column, f"holds numbers ({dtype}), not timestamps: set "
                        f"data.columns.{table}.{TIME_COLUMN[table]}_unit to s, ms or us for epoch values")
    raise DataError(table, column, f"is of type {dtype}, which is not a timestamp")


def canonical_views(source: Source, config: DataConfig) -> dict[str, list[str]]:
    """Create ``canon_<table>`` views with contract names; returns the fit columns of accounts per table.

    Raises DataError for a missing required table or column (naming the mapping that pointed at it).
    """
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"data.timezone: unknown time zone '{config.timezone}'") from exc
    extra: dict[str, list[str]] = {}
    for table in TABLES:
        if table not in source.tables:
            if table in OPTIONAL_TABLES:
                continue
            raise DataError(table, None, f"is missing from {source.description}")
        available = source.columns(table)
        select, used = [], set()
        for name in REQUIRED_COLUMNS[table] + OPTIONAL_COLUMNS[table]:
            src = config.column(table, name)
            if src is None or src not in available:
                if name in REQUIRED_COLUMNS[table] or (src is not None and src != name):
                    mapped = f" (data.columns.{table}.{name} = '{src}')" if src != name else ""
                    raise DataError(table, src or name, f"is not there{mapped}; the table has columns "
                                    f"{sorted(available)}")
                continue  # an optional column the table simply does not have
            used.add(src)
            if name == TIME_COLUMN[table]:
                expr = timestamp_sql(src, available[src], config.unit(table), config.timezone, table)
                select += [f"{expr} AS {name}", f"{quote(src)} AS {name}__raw"]
            elif name == "account_id":
                select.append(f"{quote(src)} AS account_id")
            elif name in ("event", "touch"):
                select.append(f"CAST({quote(src)} AS VARCHAR) AS {name}")
            elif name in ("quantity", "amount"):
                select += [f"TRY_CAST({quote(src)} AS DOUBLE) AS {name}", f"{quote(src)} AS {name}__raw"]
            else:
                select.append(f"CAST({quote(src)} AS VARCHAR) AS {name}")
        if table == "accounts":
            extra[table] = [c for c in available if c not in used]
            select += [quote(c) for c in extra[table]]
        source.con.execute(f"CREATE OR REPLACE VIEW canon_{table} AS SELECT {', '.join(select)} FROM raw_{table}")
    return extra
