"""Opening a data source in DuckDB: a raw view ``raw_<table>`` per table found, in a :class:`Source`.

A source is a folder of files (``data.dir``), a DuckDB database file (``data.duckdb``), a single
raw event export (``data.export``, see :mod:`features.data.export`) or, with none of these, the demo
world (DataFrames in memory). :mod:`features.data.mapping` then maps each raw view onto the contract
(the ``canon_<table>`` views that validation reads).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from features.config import TABLES, DataConfig
from features.data.sql import first_line, literal, path_literal, quote, shown
from features.errors import ConfigError, DataError

# File kinds a folder may hold per table, in the order they are looked for.
# CSV timestamps stay text: DuckDB's sniffer would read naive and aware values of one column as
# TIMESTAMPTZ in the session zone, ignoring data.timezone; mapping.timestamp_sql parses them instead.
_CSV = "read_csv({path}, header = true, encoding = {encoding}, " \
       "auto_type_candidates = ['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'])"
_JSONL = "read_json({path}, format = 'newline_delimited')"
_READERS = {
    ".parquet": "read_parquet({path})",
    ".csv": _CSV,
    ".csv.gz": _CSV,
    ".jsonl": _JSONL,
    ".jsonl.gz": _JSONL,
    ".json": "read_json({path})",
}
_PARTS = "read_parquet([{path}], union_by_name = true)"
# Encodings DuckDB's CSV reader knows without an extension (data.encoding), with common aliases.
ENCODINGS = ("utf-8", "utf-16", "latin-1")
_ENCODING_ALIASES = {"utf8": "utf-8", "utf16": "utf-16", "latin1": "latin-1", "iso-8859-1": "latin-1",
                     "iso8859-1": "latin-1"}


def table_name(name: object, key: str) -> str:
    """A table name from config as text; a path (separators, ``..``) is a ConfigError."""
    text = str(name)
    if not text or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise ConfigError(f"{key}: {text!r} must be a table name (a file name without suffix), not a path")
    return text


def encoding_of(config: DataConfig) -> str:
    """``data.encoding`` (CSV files), normalised; an encoding DuckDB cannot read is a ConfigError."""
    raw = str(getattr(config, "encoding", None) or "utf-8").strip().lower()
    value = _ENCODING_ALIASES.get(raw, raw)
    if value not in ENCODINGS:
        raise ConfigError(f"data.encoding: '{raw}' is not one of {list(ENCODINGS)}")
    return value


@dataclass
class Source:
    """An open DuckDB connection with a ``raw_<table>`` view per table found, and where it came from.

    ``origin[table]`` is the relation the raw view reads (a file view, a temporary table, an
    attached database table or a registered DataFrame). ``pending`` holds text files (CSV, JSON
    lines) found but not parsed yet: :meth:`read_pending` parses them once the encoding is known.
    ``parquet[table]`` are the Parquet files a raw view reads unchanged (see :mod:`features.data.parquet_log`).
    """

    con: duckdb.DuckDBPyConnection
    description: str
    origin: dict[str, str]
    pending: dict[str, tuple[str, list[Path]]] = field(default_factory=dict)
    parquet: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # tables read as they are from these files
    arrow: dict[str, pa.Table] = field(default_factory=dict)  # tables read as they are from these Arrow tables
    folder: Path | None = None  # the folder the tables were looked for in (a folder source)

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables found: raw views and text files not parsed yet."""
        return tuple(dict.fromkeys([*self.origin, *self.pending]))

    def add(self, table: str, relation: str) -> None:
        """Expose ``relation`` as the raw view of ``table``."""
        self.con.execute(f"CREATE OR REPLACE VIEW {quote('raw_' + table)} AS SELECT * FROM {relation}")
        self.origin[table] = relation
        self.parquet.pop(table, None)  # another relation now (e.g. an export's rows): not the files any more
        self.arrow.pop(table, None)

    def missing(self, table: str) -> str:
        """Why ``table`` is not there, with the file names a folder was searched for."""
        if self.folder is None:
            return f"is missing from {self.description}"
        return (f"is missing from {self.description} (looked for "
                f"{', '.join(table + suffix for suffix in _READERS)} or a folder {table}/ of Parquet parts)")

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of a raw table."""
        rows = self.con.execute(f"DESCRIBE {quote('raw_' + table)}").fetchall()
        return {r[0]: r[1] for r in rows}

    def read_pending(self, encoding: str = "utf-8") -> None:
        """Parse the text files found into temporary tables (once: validation and extraction each
        read a table again)."""
        for table, (suffix, files) in list(self.pending.items()):
            relation = quote(f"src_{table}")
            reader = _READERS[suffix].format(path=path_literal(files[0]), encoding=literal(encoding))
            try:
                self.con.execute(f"CREATE TEMP TABLE {relation} AS SELECT * FROM {reader}")
            except duckdb.Error as exc:
                raise DataError(table, None, _read_problem(files[0], suffix, encoding, exc)) from exc
            del self.pending[table]
            self.add(table, relation)


def _read_problem(path: Path, suffix: str, encoding: str, exc: duckdb.Error) -> str:
    """One line on why a text file cannot be read, naming the file (and the line of bad bytes)."""
    message = str(exc)
    if "unicode" in message.lower() or "encod" in message.lower():
        line = _undecodable_line(path, encoding)
        where = f" (line {line})" if line else ""
        return (f"file '{shown(path)}' is not {encoding} text{where}; set data.encoding to the file's encoding "
                f"(one of {', '.join(ENCODINGS)})")
    return f"file '{shown(path)}' cannot be read as {suffix.lstrip('.')}: {first_line(exc)}"


def _undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line of a file that does not decode (line-wise check; utf-8 and latin-1 only)."""
    if encoding == "utf-16":
        return None
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError:
                    return number
    except OSError:
        return None
    return None


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (so TIMESTAMPTZ -> TIMESTAMP casts give UTC wall time)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # (the default, relied on: a scan without ORDER BY returns a table's rows in order, so columns read from
    # one relation in two queries line up, see keys._sorted_accounts and logs._read_keyed_log)
    con.execute("SET preserve_insertion_order = true")
    return con


def table_files(directory: Path, table: str) -> tuple[str, list[Path]] | None:
    """The kind (file suffix, or ``/`` for a folder of Parquet parts) and exact files of a table.

    Paths are literal: files are found here with pathlib, never by a DuckDB glob.
    """
    for suffix in _READERS:
        path = directory / f"{table}{suffix}"
        if path.is_file():
            return suffix, [path]
    part_dir = directory / table
    if part_dir.is_dir():
        parts = sorted(p for p in part_dir.rglob("*") if p.is_file() and p.name.lower().endswith(".parquet"))
        if parts:
            return "/", parts
    return None


def open_folder(directory: str | os.PathLike, wanted: tuple[str, ...] = TABLES) -> Source:
    """Raw views over ``NAME.parquet|csv|jsonl[.gz]`` or ``NAME/`` (Parquet parts) in a folder.

    Parquet is scanned in place; text files are parsed by :meth:`Source.read_pending`.
    """
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data.dir: folder '{directory}' does not exist")
    source = Source(connect(), f"folder {path}", {}, folder=path)
    for table in wanted:
        hit = table_files(path, table_name(table, "data.export.table"))
        if hit is None:
            continue
        suffix, files = hit
        if suffix not in ("/", ".parquet"):
            source.pending[table] = (suffix, files)
            continue
        reader = (_PARTS.format(path=", ".join(path_literal(f) for f in files)) if suffix == "/"
                  else _READERS[suffix].format(path=path_literal(files[0])))
        relation = quote(f"src_{table}")
        try:
            source.con.execute(f"CREATE VIEW {relation} AS SELECT * FROM {reader}")
        except duckdb.Error as exc:
            raise DataError(table, None, f"cannot be read from {shown(files[0] if suffix != '/' else path / table)}: "
                                         f"{first_line(exc)}") from exc
        source.add(table, relation)
        source.parquet[table] = tuple(files)
    return source


def input_files(config: DataConfig) -> list[Path]:
    """Every path the configured source reads or would read (each table's possible files and parts
    folder, or the DuckDB file), resolved: an output there would destroy or shadow an input."""
    if config.duckdb:
        return [Path(config.duckdb).expanduser().resolve()]
    if not config.dir:
        return []
    directory = Path(config.dir).expanduser()
    names = list(TABLES) + ([str((config.export or {}).get("table", "events"))] if config.export else [])
    found: list[Path] = []
    for table in dict.fromkeys(names):
        if any(c in table for c in "/\\\0") or table in ("", ".", ".."):
            continue
        found += [(directory / f"{table}{suffix}").resolve() for suffix in _READERS]
        found.append((directory / table).resolve())  # a folder of parts, and everything in it
    return found


def open_duckdb(database: str | os.PathLike, wanted: tuple[str, ...] = TABLES) -> Source:
    """Raw views over the tables of a DuckDB database file (opened read-only)."""
    path = Path(database).expanduser()
    if not path.is_file():
        raise ConfigError(f"data.duckdb: database file '{database}' does not exist")
    con = connect()
    try:
        con.execute(f"ATTACH {literal(str(path))} AS src (READ_ONLY)")
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(f"data.duckdb: cannot open '{path}' as a DuckDB database: {first_line(exc)}") from exc
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'").fetchall()}
    source = Source(con, f"DuckDB database {path}", {})
    for table in (t for t in wanted if t in present):
        source.add(table, f"src.{quote(table)}")
    return source


def open_frames(frames: dict, description: str) -> Source:
    """Raw views over in-memory pandas DataFrames or Arrow tables (the demo world, tests, a bucket of accounts);
    an Arrow table's key columns can be coded from its dictionaries (:mod:`features.data.parquet_log`)."""
    source = Source(connect(), description, {})
    for table, frame in frames.items():
        if frame is not None:
            source.con.register(f"src_{table}", frame)
            source.add(table, quote(f"src_{table}"))
            if isinstance(frame, pa.Table):
                source.arrow[table] = frame
    return source
