"""Parquet read by the executors with pyarrow: no row crosses from the JVM into Python.

Through Spark's own reader every row of a table is turned into an Arrow row by the JVM and sent to the
Python worker (about 0.7 M rows/s per core here: most of the time of a load). When every table of
``data.dir`` is a Parquet file or a folder of parts that pyarrow opens (a local path, ``file://``,
``s3://``, ``gs://``, ``hdfs://``; not ``s3a://`` or ``abfss://``, which only Hadoop knows), the driver
lists the files and their row groups and Spark only hands out *tasks* (a file and some of its row groups):
each task reads its rows with pyarrow, in the files' own types, as the local loader reads them. Otherwise
(catalog tables, Hadoop-only paths, partitioned folders ``key=value/``) Spark reads and sends Arrow batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from engines.spark.arrow import conform

ROWS_PER_TASK = 1_000_000  # row groups are gathered into tasks of about this many rows


@dataclass(frozen=True)
class ParquetTable:
    """A table's Parquet files (paths as ``filesystem`` knows them), their common schema and read tasks."""

    uri: str  # what the executors open the filesystem from
    files: tuple[str, ...]
    schema: pa.Schema
    tasks: tuple[tuple[str, tuple[int, ...]], ...]  # (file, row groups)
    rows: int = 0
    keys: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per file: the columns read as their dictionaries


def _filesystem(path: str) -> tuple[pafs.FileSystem, str] | None:
    """pyarrow's filesystem of ``path``; None when pyarrow cannot open it (a scheme it lacks, no credentials):
    the table is then read by Spark's own reader, as before this path existed (not an error)."""
    try:
        return pafs.FileSystem.from_uri(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OSError):
        return None


def _files(fs: pafs.FileSystem, path: str, table: str) -> list[str] | None:
    """``NAME.parquet`` or the ``.parquet`` parts of a folder ``NAME/`` (None: absent, or partitioned)."""
    single = f"{path.rstrip('/')}/{table}.parquet"
    if fs.get_file_info(single).type == pafs.FileType.File:
        return [single]
    folder = f"{path.rstrip('/')}/{table}"
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return None
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    parts = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.lower().endswith(".parquet")
                   and not any(p.startswith((".", "_")) for p in i.path[len(folder):].split("/") if p))
    if not parts or any("=" in p for f in parts for p in f[len(folder):].split("/")[:-1]):
        return None  # partition columns live in folder names: Spark's reader adds them
    return parts


def parquet_tables(path: str, tables: tuple[str, ...], keys: dict[str, tuple[str, ...]] | None = None
                   ) -> dict[str, ParquetTable | None] | None:
    """Each table of the folder ``path`` as Parquet pyarrow reads (``None`` for a table not there), or None
    when any table is not such Parquet (then Spark reads them all: one way of reading per load). ``keys``: per
    table, the columns to read as their dictionaries when they are text (each distinct id decoded, hashed and
    moved once: cutting a part per bucket costs a third; the local engine's split reads them so too)."""
    opened = _filesystem(path)
    if opened is None:
        return None
    fs, root = opened
    out: dict[str, ParquetTable | None] = {}
    try:
        for table in tables:
            files = _files(fs, root, table)
            if files is None:
                single, folder = f"{root.rstrip('/')}/{table}.parquet", f"{root.rstrip('/')}/{table}"
                if any(fs.get_file_info(p).type != pafs.FileType.NotFound for p in (single, folder)):
                    return None  # there, but not as plain Parquet: Spark's reader (and its messages)
                out[table] = None
                continue
            metas = [pq.ParquetFile(f, filesystem=fs).metadata for f in files]
            mine = tuple((f, tuple(k for k in (keys or {}).get(table, ()) if k in m.schema.names))
                         for f, m in zip(files, metas))
            schemas = [pq.ParquetFile(f, filesystem=fs, read_dictionary=k).schema_arrow for f, k in mine]
            schema = pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
            out[table] = ParquetTable(path, tuple(files), schema, tuple(_tasks(files, metas)),
                                      sum(m.num_rows for m in metas), mine)
    except (OSError, pa.ArrowException):
        return None
    return out


def _tasks(files: list[str], metas: list) -> list[tuple[str, tuple[int, ...]]]:
    """Row groups gathered into tasks of about ROWS_PER_TASK rows (never across files)."""
    tasks = []
    for path, meta in zip(files, metas):
        groups, rows = [], 0
        for g in range(meta.num_row_groups):
            groups.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= ROWS_PER_TASK:
                tasks.append((path, tuple(groups)))
                groups, rows = [], 0
        if groups or not meta.num_row_groups:
            tasks.append((path, tuple(groups)))
    return tasks


def read_task(table: ParquetTable, task: int) -> pa.Table:
    """The rows of read task ``task`` (some row groups of one file), in the table's common schema."""
    fs, _ = pafs.FileSystem.from_uri(table.uri)
    path, groups = table.tasks[task]
    with pq.ParquetFile(path, filesystem=fs, read_dictionary=dict(table.keys).get(path)) as f:
        rows = f.read_row_groups(list(groups)) if groups else f.schema_arrow.empty_table()
    return conform(rows.replace_schema_metadata(None), table.schema)


def head(table: ParquetTable, rows: int) -> pa.Table:
    """The first ``rows`` rows of the table (from the first file that has any), in its common schema."""
    fs, _ = pafs.FileSystem.from_uri(table.uri)
    for path in table.files:
        with pq.ParquetFile(path, filesystem=fs, read_dictionary=dict(table.keys).get(path)) as f:
            if f.metadata.num_rows:
                first = next(f.iter_batches(batch_size=max(rows, 1)))
                return conform(pa.Table.from_batches([first]).replace_schema_metadata(None), table.schema).slice(0, rows)
    return table.schema.empty_table()

