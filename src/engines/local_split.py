"""Loading a source bigger than the memory budget, one bucket of accounts at a time, on this machine.

1. The source is opened and mapped as the local loader does (missing tables and columns fail here, whole).
2. One streaming pass over every table (Parquet files by pyarrow, a batch of row groups at a time, the key
   columns as their dictionaries; other sources through DuckDB) writes its rows to a spill folder, one Arrow
   stream per bucket (the bucket: a hash of the account id's plain text, ``12``, ``12.0`` and ``'12'`` alike).
3. Each bucket is read back and validated by the local loader itself (its account ids and event names coded from
   the Arrow dictionaries the split kept, cut to the bucket's entries, as the loader codes a Parquet file's;
   :func:`engines.bucket_kernel.validate_bucket`, as the Spark engine validates its buckets); its validated tables
   wait on disk, its load report and planning statistics stay in memory; the driver adds them up
   (:func:`engines.buckets.assemble`).

Whole-table decisions are made on the whole source: ``data.duplicates=auto`` (day resolution) before the
buckets, ``data.strict`` and "none of its rows is known" on the summed counts. When a bucket fails, the
error is made again by the loader's own checks over the whole source (streaming DuckDB aggregates), so its
count and examples are those of the in-memory path.
"""
from __future__ import annotations

import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features.config import TABLES, TIME_COLUMN, DataConfig
from features.data.checks import check_columns, columns_of
from features.data.attributes import TABLE as ATTRIBUTES, read_attributes
from features.data.keys import read_accounts, register_keys
from features.data.sources import Source
from features.data.sql import quote
from features.data.users import check_user_ids, check_users, no_users_error
from features.errors import DataError
from features.tables import LoadReport, Tables

from engines.bucket_kernel import id_column, meta_of, validate_bucket
from engines.buckets import assemble, buckets_of
from engines.bucket_errors import merged_error

DISK_SHARE = 0.25  # the split may take this share of the free disk uncompressed (the validated buckets follow)
SAMPLE_ROWS = 1 << 16  # rows read to price a table's decoded rows
OPEN_FILES_MARGIN = 64  # files kept for everything else (Parquet files, DuckDB, Python)
BATCH_ROWS = 1 << 20  # rows read from the source at once, by all readers together: the split's memory
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates.keeps_repeats


def _readers(source: Source, table: str, keys: list[str], workers: int) -> list[Iterator[pa.RecordBatch]]:
    """The raw rows of ``table`` as up to ``workers`` batch streams that together hold every row once, stream
    ``w``'s rows all before stream ``w + 1``'s in the table's order (so reading a bucket's streams in turn keeps
    that order). Parquet files are read by pyarrow, their row groups cut into contiguous runs of about equal
    rows (the ``keys`` columns, account id and event name, as their dictionaries: each distinct value decoded
    once; a dictionary of user ids costs more than it saves); any other source is one stream through DuckDB."""
    files = source.parquet.get(table) or ()
    schemas = {str(f): pq.read_schema(f) for f in files}
    if not files or len({s.remove_metadata().to_string() for s in schemas.values()}) != 1:
        return [source.con.sql(f"SELECT * FROM {quote('raw_' + table)}").to_arrow_reader(BATCH_ROWS)]
    schema = next(iter(schemas.values()))
    text = _dictionary_columns(schema, keys)
    groups = [(str(path), g, pq.ParquetFile(path).metadata.row_group(g).num_rows)
              for path in files for g in range(pq.ParquetFile(path).metadata.num_row_groups)]
    runs = _runs(groups, workers)
    return [_parquet_stream(run, text, max(BATCH_ROWS // len(runs), 1 << 16)) for run in runs]


def _runs(groups: list[tuple[str, int, int]], workers: int) -> list[list[tuple[str, int, int]]]:
    """``groups`` (file, row group, rows) cut into at most ``workers`` contiguous runs of about equal rows."""
    total = sum(rows for _, _, rows in groups)
    runs: list[list[tuple[str, int, int]]] = [[]]
    done = 0
    for group in groups:
        if runs[-1] and done + group[2] / 2 > total * len(runs) / workers:  # the cut nearest the ideal one
            runs.append([])
        runs[-1].append(group)
        done += group[2]
    return runs


def _parquet_stream(run: list[tuple[str, int, int]], text: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches (``rows`` each) of a run of row groups, file by file."""
    for path in dict.fromkeys(p for p, _, _ in run):
        # pre_buffer=False: pre-buffering kept every column chunk read so far (a whole file) in Arrow's pool
        with pq.ParquetFile(path, read_dictionary=text, pre_buffer=False) as handle:
            yield from handle.iter_batches(batch_size=rows, row_groups=[g for p, g, _ in run if p == path])


@dataclass
class Split:
    """Where the buckets' raw rows are (``folder/<b>/<table>.<w>.arrow``: bucket ``b``'s rows read by reader
    ``w``), their schemas and each table's first row."""

    folder: Path
    buckets: int
    schemas: dict[str, pa.Schema] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # per table: rows per bucket
    anchors: dict[str, pa.Table] = field(default_factory=dict)  # per table: its first row (the sentinel's model)

    ids: dict[str, str] = field(default_factory=dict)  # per table: its account id column
    compression: dict[str, str | None] = field(default_factory=dict)  # per table: of its streams (None: as in memory)


def compression(source: Source, table: str, keys: list[str], folder: Path) -> str | None:
    """How the split writes ``table``'s streams: as they are in memory (None) when the table, decoded, would take at
    most :data:`DISK_SHARE` of the free disk at ``folder``, else LZ4 (a third to half the size; LZ4 made cutting
    and writing 4 M events take 0.67 s instead of 0.33, and reading them back 0.15 s instead of 0.03). The decoded
    size: the rows (Parquet footers) times the bytes a row takes in the first batch of its first file, read as the
    split reads it (text one value per row, the key columns' dictionaries counted at a fifth more than their
    indices); other sources: LZ4."""
    files = source.parquet.get(table)
    if not files:
        return "lz4"
    with pq.ParquetFile(files[0], read_dictionary=_dictionary_columns(pq.read_schema(files[0]), keys)) as handle:
        sample = next(handle.iter_batches(batch_size=SAMPLE_ROWS), None)
    if sample is None or not len(sample):
        return None
    per_row = sum(c.indices.nbytes * 1.2 if pa.types.is_dictionary(c.type) else c.nbytes
                  for c in sample.columns) / len(sample)
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    free = shutil.disk_usage(next(p for p in (folder, *folder.parents) if p.exists())).free
    return None if rows * per_row <= free * DISK_SHARE else "lz4"


def _dictionary_columns(schema: pa.Schema, keys: list[str]) -> list[str]:
    """The text columns among ``keys`` (account id, event name), read as Arrow dictionaries."""
    return [f.name for f in schema if f.name in keys and (pa.types.is_string(f.type) or
                                                          pa.types.is_large_string(f.type))]


def open_files_allowed() -> int:
    """How many files this process may hold open (its soft limit, raised to the hard one where it may be)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        return int(soft)
    except (ImportError, ValueError, OSError):  # not Unix, or the limit cannot be raised
        return 512


def split(source: Source, config: DataConfig, n: int, folder: Path, workers: int = 1) -> Split:
    """Every table of the source streamed once into per-bucket Arrow streams (``folder/<b>/<table>.<w>.arrow``),
    by up to ``workers`` readers at once (pyarrow decodes, hashes, compresses and writes without the GIL)."""
    out = Split(folder, n)
    # each reader holds a stream open per bucket: as many readers as the open-file limit allows
    workers = max(1, min(workers, (open_files_allowed() - OPEN_FILES_MARGIN) // max(n, 1)))
    for table in TABLES:
        if table not in source.tables:
            continue
        column = out.ids[table] = id_column(config, table)
        keys = [column, config.column(table, "event") or "event", config.column(table, "touch") or "touch"]
        out.compression[table] = compression(source, table, keys, folder)
        readers = _readers(source, table, keys, workers)
        with ThreadPoolExecutor(len(readers)) as pool:
            results = list(pool.map(lambda w: _split_stream(out, table, column, readers[w], w), range(len(readers))))
        out.rows[table] = sum((counts for counts, _ in results), np.zeros(n, dtype=np.int64))
        first = next((batch for _, batch in results if batch is not None), None)
        if first is not None:
            out.schemas[table], out.anchors[table] = first.schema, pa.Table.from_batches([first])
        else:  # no rows at all: the loader says so, for every bucket
            empty = source.con.sql(f"SELECT * FROM {quote('raw_' + table)} LIMIT 0").to_arrow_table()
            out.schemas[table], out.anchors[table] = empty.schema, empty
        pa.default_memory_pool().release_unused()
    return out


def _split_stream(out: Split, table: str, column: str, batches: Iterator[pa.RecordBatch], w: int
                  ) -> tuple[np.ndarray, pa.RecordBatch | None]:
    """One reader's batches appended to their buckets' Arrow streams; its rows per bucket and its first row."""
    counts = np.zeros(out.buckets, dtype=np.int64)
    first = None
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    try:
        for batch in batches:
            if first is None and len(batch):
                first = batch.take(pa.array([0]))  # a copy of the first row (a slice would keep the batch alive)
            counts += _write_batch(out, table, batch, buckets_of(batch.column(column), out.buckets), writers, w)
    finally:
        for writer in writers.values():
            writer.close()
    return counts, first


def _write_batch(out: Split, table: str, batch: pa.RecordBatch, bucket: np.ndarray,
                 writers: dict[int, pa.ipc.RecordBatchStreamWriter], w: int) -> np.ndarray:
    """A batch's rows appended to their buckets' Arrow streams of reader ``w`` (IPC, uncompressed or LZ4: written
    about as they are in memory, dictionaries included; Parquet's encoding cost 20 times more); its rows per
    bucket."""
    order = np.argsort(bucket, kind="stable")  # 16-bit keys: a radix sort
    counts = np.bincount(bucket, minlength=out.buckets)
    rows = batch.take(pa.array(order))
    start = 0
    for b in np.flatnonzero(counts):
        if b not in writers:
            (out.folder / str(b)).mkdir(parents=True, exist_ok=True)
            options = pa.ipc.IpcWriteOptions(compression=out.compression.get(table, "lz4"))
            writers[b] = pa.ipc.new_stream(str(out.folder / str(b) / f"{table}.{w}.arrow"), rows.schema,
                                           options=options)
        writers[b].write_batch(compact_dictionaries(rows.slice(start, counts[b])))
        start += counts[b]
    return counts


def compact_dictionaries(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with each dictionary column's dictionary cut to the entries its rows use (a bucket's rows use
    ~1/n of a batch's account ids: the whole dictionary would be written, read and coded n times over)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_dictionary(column.type) and len(column.dictionary) > len(column) // 4:
            nulls = column.indices.null_count
            valid = column.indices.is_valid().to_numpy(zero_copy_only=False) if nulls else None
            indices = (column.indices.fill_null(0) if nulls else column.indices).to_numpy(zero_copy_only=False)
            used = np.zeros(len(column.dictionary), dtype=bool)
            used[indices if valid is None else indices[valid]] = True
            code = np.maximum(np.cumsum(used, dtype=np.int32) - 1, 0)[indices]  # (a null's code: 0, masked)
            kept = pa.array(code, column.type.index_type, mask=None if valid is None else ~valid)
            column = pa.DictionaryArray.from_arrays(kept, column.dictionary.filter(pa.array(used)))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def duplicates_setting(source: Source, config: DataConfig, table: str) -> str:
    """``data.duplicates`` decided over the whole table as the local loader decides it: ``auto`` keeps repeated
    rows when every timestamp is a date (00:00 UTC) in a table of at least 1,000 rows."""
    if config.duplicates != "auto":
        return config.duplicates
    ts = quote(TIME_COLUMN[table])
    n, off = source.con.execute(f"SELECT count(*), count(*) FILTER (WHERE {ts} IS NOT NULL AND "
                                f"{ts} <> date_trunc('day', {ts})) FROM canon_{table}").fetchall()[0]
    return "keep" if n >= DAY_RESOLUTION_MIN_ROWS and not off else "set_aside"


def bucket_tables(sp: Split, b: int) -> dict[str, pa.Table]:
    """Bucket ``b``'s raw tables (Arrow, its readers' streams in turn: the source's row order; an empty table
    where it has no rows)."""
    tables = {}
    for table, schema in sp.schemas.items():
        paths = sorted((sp.folder / str(b)).glob(f"{table}.*.arrow"), key=lambda p: int(p.suffixes[-2][1:]))
        parts = []
        for path in paths:
            with pa.ipc.open_stream(str(path)) as reader:
                parts.append(reader.read_all())
        tables[table] = pa.concat_tables(parts) if parts else schema.empty_table()
    return tables


def validate_buckets(source: Source, config: DataConfig, sp: Split, instants: Sequence[int],
                     release: Callable[[], None] = lambda: None, workers: int = 1) -> list[tuple[int, dict]]:
    """Each bucket validated by the local loader, up to ``workers`` buckets at once; its tables pickled to
    ``folder/validated/<b>.pkl`` and its raw parts deleted; per bucket, in bucket order, what the driver needs
    (report, error, planning statistics, the driver's tables). ``release``: called after each bucket (to give
    its memory back)."""
    dup = {t: duplicates_setting(source, config, t) for t in ("events", "touches") if t in sp.schemas}
    events_config = replace(config, duplicates=dup["events"])
    (sp.folder / "validated").mkdir(exist_ok=True)
    anchors = {t: a.cast(sp.schemas[t]) for t, a in sp.anchors.items()}  # the sentinel's rows copy them

    def one(b: int) -> tuple[int, dict]:
        result = validate_bucket(bucket_tables(sp, b), anchors, events_config, dup.get("touches"), instants)
        shutil.rmtree(sp.folder / str(b), ignore_errors=True)
        with open(sp.folder / "validated" / f"{b}.pkl", "wb") as handle:
            pickle.dump(result.tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
        meta = meta_of(result, config)
        del result
        release()
        return b, meta

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(one, range(sp.buckets)))


def whole_table_error(source: Source, config: DataConfig, fit: list[str]) -> None:
    """Raise the first error the local loader's checks find over the whole source (accounts, keys, the users and
    the attribute history, then each log's columns), as the in-memory path raises it; nothing when they all pass.
    ``fit``: the accounts' fit columns (:func:`features.data.mapping.canonical_views`)."""
    report = LoadReport(source.description)
    accounts = read_accounts(source, config, fit, report)
    logs = ["events", "conversions"] + [t for t in ("touches", "users", ATTRIBUTES) if t in source.tables]
    join_on = register_keys(source, ["accounts", *logs], config, report, accounts["account_id"])
    if "users" in join_on:
        check_users(source, config, join_on["users"])
    if ATTRIBUTES in join_on:  # read whole: a history is a few rows per account, not a log
        read_attributes(source, config, join_on[ATTRIBUTES], accounts, report,
                        tuple(c for c in fit if c not in accounts.columns))
    for table in ("events", "conversions", "touches"):
        if table not in join_on:
            continue
        rows, _ = check_columns(source, table, config, columns_of(source, table))
        if table == "events" and rows == 0:
            raise DataError("events", None, "is empty")


def assembled(source: Source, config: DataConfig, fit: list[str], metas: list[tuple[int, dict]]
              ) -> tuple[Tables, LoadReport]:
    """The driver's tables and the summed load report. A bucket's error is raised as the whole source gives it:
    the loader's checks over the whole source, else (a problem of rows the buckets hold whole: users of unknown
    accounts, the attribute history) the buckets' errors counted over them all. The users' whole-table rules
    (an empty table, a user in two accounts: two buckets) are checked here."""
    errors = [m["error"] for _, m in metas if m["error"]]
    if errors:
        whole_table_error(source, config, fit)
        raise merged_error(errors)
    if "users" in source.tables:  # before the logs' whole-table rules (strict, no known rows), as the loader
        if not sum(m["report"].rows_read.get("users", 0) for _, m in metas):
            raise no_users_error()
        check_user_ids(source, config)
    return assemble(metas, config, source.description)
