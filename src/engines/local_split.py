"""Loading a source bigger than the memory budget, one bucket of accounts at a time, on this machine.

1. The source is opened and mapped as the local loader does (missing tables and columns fail here, whole).
2. One streaming pass over every table (Parquet files by pyarrow, a batch of row groups at a time, the key
   columns as their dictionaries; other sources through DuckDB) writes its rows to a spill folder, one Arrow
   stream per bucket (the bucket: a hash of the account id's plain text, ``12``, ``12.0`` and ``'12'`` alike).
3. Each bucket is read back and validated by the local loader itself (its account ids and event names coded from
   the Arrow dictionaries the split kept, cut to the bucket's entries, as the loader codes a Parquet file's; a
   sentinel account added when the loader refuses a degenerate bucket, as
   :func:`engines.spark.kernel.validate_bucket` adds one); its validated tables
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
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.config import TABLES, TIME_COLUMN, DataConfig
from features.data.checks import check_columns, columns_of
from features.data.keys import read_accounts, register_keys
from features.data import load as loader
from features.data.sources import Source, open_frames
from features.data.sql import quote
from features.errors import DataError, PipelineError
from features.snapshots import reach_day, reach_start
from features.tables import EventLog, LoadReport, Tables

from engines.buckets import assemble, first_error
from engines.spark import kernel

BATCH_ROWS = 1 << 20  # rows read from the source at once: the split's memory
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates.keeps_repeats
MAX_CELLS = 1 << 24  # kinds x days counted by bincount in reach_by_day


def _id_text(values: pa.Array) -> pa.Array:
    """Account ids as their plain text, whole-number floats written as integers (``12``, ``12.0`` and ``'12'``
    alike, as the local loader matches them)."""
    if pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        number = pc.cast(values, pa.float64())
        whole = pc.fill_null(pc.equal(pc.floor(number), number), False)
        integer = pc.cast(pc.if_else(whole, number, 0.0), pa.int64())
        return pc.if_else(whole, pc.cast(integer, pa.string()), pc.cast(number, pa.string()))
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def buckets_of(ids: pa.Array, n: int) -> np.ndarray:
    """The bucket (0 .. n-1) of each account id: a stable hash (pandas' SipHash) of its plain text, computed
    once per distinct id of the batch (a Parquet dictionary, or Arrow's encoding of the batch)."""
    coded = ids if pa.types.is_dictionary(ids.type) else pc.dictionary_encode(ids)
    distinct = _id_text(coded.dictionary).to_numpy(zero_copy_only=False).astype(object)
    per_id = (pd.util.hash_array(distinct, categorize=False) % np.uint64(n)).astype(np.int16)
    codes = coded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    return np.append(per_id, np.int16(0))[codes]  # a null id (an error the loader reports) in bucket 0


def _batches(source: Source, table: str, keys: list[str]):
    """The raw rows of ``table``, a batch at a time: Parquet files read by pyarrow (the ``keys`` columns, account
    id and event name, as their dictionaries: each distinct value decoded once; a dictionary of user ids costs
    more than it saves), any other source through DuckDB."""
    files = source.parquet.get(table) or ()
    schemas = {str(f): pq.read_schema(f) for f in files}
    if files and len({s.remove_metadata().to_string() for s in schemas.values()}) == 1:
        schema = next(iter(schemas.values()))
        text = [f.name for f in schema if f.name in keys and (pa.types.is_string(f.type) or
                                                              pa.types.is_large_string(f.type))]
        for path in files:
            # pre_buffer=False: pre-buffering kept every column chunk read so far (a whole file) in Arrow's pool
            with pq.ParquetFile(path, read_dictionary=text, pre_buffer=False) as handle:
                yield from handle.iter_batches(batch_size=BATCH_ROWS)
        return
    yield from source.con.sql(f"SELECT * FROM {quote('raw_' + table)}").to_arrow_reader(BATCH_ROWS)


@dataclass
class Split:
    """Where the buckets' raw rows are (``folder/<b>/<table>.arrow``), their schemas, and the sentinel
    account's id: an id in none of the tables (a number above every numeric id, else a text no id has)."""

    folder: Path
    buckets: int
    schemas: dict[str, pa.Schema] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # per table: rows per bucket
    top: float | None = None  # the largest numeric id
    texts: set[str] = field(default_factory=set)  # sentinel texts an id already has
    anchors: dict[str, pa.Table] = field(default_factory=dict)  # per table: its first row (the sentinel's model)

    def sentinel(self, table: str) -> object:
        """The sentinel's id in ``table``'s own id type."""
        kind = self.schemas[table].field(self.ids[table]).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        if self.top is not None:
            value = int(self.top) + 1
            return value if pa.types.is_integer(kind) or pa.types.is_floating(kind) else str(value)
        text = kernel.SENTINEL_TEXT
        while text in self.texts:
            text += "~"
        return text

    ids: dict[str, str] = field(default_factory=dict)  # per table: its account id column


def split(source: Source, config: DataConfig, n: int, folder: Path) -> Split:
    """Every table of the source streamed once into per-bucket Arrow streams (``folder/<b>/<table>.arrow``)."""
    out = Split(folder, n)
    for table in TABLES:
        if table not in source.tables:
            continue
        column = out.ids[table] = kernel.id_column(config, table)
        out.rows[table] = np.zeros(n, dtype=np.int64)
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        try:
            keys = [column, config.column(table, "event") or "event", config.column(table, "touch") or "touch"]
            for batch in _batches(source, table, keys):
                if table not in out.schemas:
                    # a copy of the first row (a slice would keep the whole batch alive)
                    out.schemas[table], out.anchors[table] = batch.schema, pa.Table.from_batches(
                        [batch.take(pa.array([0]))])
                _note_ids(out, batch.column(column))
                _write_batch(out, table, batch, buckets_of(batch.column(column), n), writers)
            pa.default_memory_pool().release_unused()
            if table not in out.schemas:  # no rows at all: the loader says so, for every bucket
                empty = source.con.sql(f"SELECT * FROM {quote('raw_' + table)} LIMIT 0").to_arrow_table()
                out.schemas[table], out.anchors[table] = empty.schema, empty
        finally:
            for writer in writers.values():
                writer.close()
    return out


def _note_ids(out: Split, ids: pa.Array) -> None:
    """Keep what the sentinel's id must avoid: the largest numeric id, and ids that look like the sentinel's."""
    ids = ids.dictionary if pa.types.is_dictionary(ids.type) else ids
    if pa.types.is_integer(ids.type) or pa.types.is_floating(ids.type):
        top = pc.max(ids).as_py()
        out.top = top if out.top is None or (top is not None and top > out.top) else out.top
    elif pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        mine = pc.filter(ids, pc.starts_with(ids, kernel.SENTINEL_TEXT))
        out.texts.update(mine.to_pylist())


def _write_batch(out: Split, table: str, batch: pa.RecordBatch, bucket: np.ndarray,
                 writers: dict[int, pa.ipc.RecordBatchStreamWriter]) -> None:
    """A batch's rows appended to their buckets' Arrow streams (IPC with LZ4: written about as they are in memory,
    dictionaries included; Parquet's encoding cost 20 times more)."""
    order = np.argsort(bucket, kind="stable")  # 16-bit keys: a radix sort
    counts = np.bincount(bucket, minlength=out.buckets)
    rows = batch.take(pa.array(order))
    start = 0
    for b in np.flatnonzero(counts):
        if b not in writers:
            (out.folder / str(b)).mkdir(parents=True, exist_ok=True)
            writers[b] = pa.ipc.new_stream(str(out.folder / str(b) / f"{table}.arrow"), rows.schema,
                                           options=pa.ipc.IpcWriteOptions(compression="lz4"))
        writers[b].write_batch(compact_dictionaries(rows.slice(start, counts[b])))
        start += counts[b]
    out.rows[table] += counts


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


def _sentinel_row(sp: Split, table: str, config: DataConfig) -> pa.Table:
    """The sentinel account's row of ``table``: a copy of the table's first row (its types and formats) with the
    sentinel's id (and a quantity of 1: it is never set aside for it)."""
    schema = sp.schemas[table]
    row, column = sp.anchors[table].cast(schema), sp.ids[table]
    kind = schema.field(column).type
    value = pa.array([sp.sentinel(table)], kind.value_type if pa.types.is_dictionary(kind) else kind)
    row = row.set_column(schema.get_field_index(column), column, value.cast(kind))
    quantity = config.column("events", "quantity") if table == "events" else None
    if quantity and quantity in schema.names:
        kind = schema.field(quantity).type
        plain = kind.value_type if pa.types.is_dictionary(kind) else kind
        one = pa.array([1 if pa.types.is_integer(plain) or pa.types.is_floating(plain) else "1"]).cast(kind)
        row = row.set_column(schema.get_field_index(quantity), quantity, one)
    return row


def bucket_tables(sp: Split, b: int, config: DataConfig, sentinel: bool) -> tuple[dict[str, pa.Table], set[str]]:
    """Bucket ``b``'s raw tables (Arrow; an empty one where it has no rows); with ``sentinel``, plus the sentinel
    account's rows (accounts and events always, conversions and touches where the bucket has rows), and the
    tables that got one (see :mod:`engines.spark.kernel`)."""
    tables, added = {}, set()
    for table, schema in sp.schemas.items():
        path = sp.folder / str(b) / f"{table}.arrow"
        with pa.ipc.open_stream(str(path)) if path.is_file() else nullcontext() as reader:
            tables[table] = reader.read_all() if reader is not None else schema.empty_table()
        wanted = table in ("accounts", "events") or sp.rows[table][b]
        if sentinel and wanted and len(sp.anchors[table]):
            tables[table] = pa.concat_tables([tables[table], _sentinel_row(sp, table, config)])
            added.add(table)
    return tables, added


def _load_arrow(tables: dict[str, pa.Table], config: DataConfig) -> tuple[Tables, LoadReport]:
    """A bucket's tables loaded by the local loader (``data.strict`` is the driver's, on the summed counts)."""
    return loader.load_source(open_frames(tables, "bucket"), replace(config, strict=False))


def reach_by_day(tables: Tables, log: EventLog) -> pd.DataFrame:
    """:func:`engines.spark.kernel.reach_by_day` (reachable rows per kind and day, and whether their quantity
    varies), counted with ``np.bincount`` over kind x day instead of a pandas groupby of every row (7x faster)."""
    start, ok = reach_start(tables, log)
    day = reach_day(start[ok])
    if not len(day):
        return kernel.reach_by_day(tables, log)
    low, span = int(day.min()), int(day.max() - day.min()) + 1
    if span * max(len(log.names), 1) > MAX_CELLS:  # a log over many years: the groupby it is
        return kernel.reach_by_day(tables, log)
    key = log.kind[ok].astype(np.int64) * span + (day - low)
    size = span * max(len(log.names), 1)
    n = np.bincount(key, minlength=size)
    varies = (np.bincount(key, weights=(log.quantity[ok] != 1.0), minlength=size) > 0
              if log.quantity is not None else np.zeros(size, dtype=bool))
    cells = np.flatnonzero(n)
    names = np.asarray(log.names, dtype=object)
    return pd.DataFrame({"kind": names[cells // span], "day": (cells % span + low).astype(day.dtype),
                         "n": n[cells].astype(np.int64), "varies": varies[cells]})


def _loaded(sp: Split, b: int, config: DataConfig, touches_duplicates: str | None, sentinel: bool
            ) -> tuple[Tables, LoadReport]:
    """Bucket ``b`` loaded by the local loader (with the sentinel account and without it again, when asked)."""
    raw, added = bucket_tables(sp, b, config, sentinel)
    tables, report = _load_arrow(raw, config)
    if touches_duplicates and touches_duplicates != config.duplicates and tables.touches is not None:
        # the touches' own duplicates setting (decided over the whole table): their rows loaded again with it
        other, other_report = _load_arrow(raw, replace(config, duplicates=touches_duplicates))
        tables = replace(tables, touches=other.touches)
        report.set_aside = {k: v for k, v in report.set_aside.items() if not k.startswith("touches:")}
        report.set_aside.update({k: v for k, v in other_report.set_aside.items() if k.startswith("touches:")})
        report.notes = [n for n in report.notes if not n.startswith("touches:")] + [
            n for n in other_report.notes if n.startswith("touches:")]
    if sentinel:
        return kernel.without_sentinel(tables, report, {t: sp.sentinel(t) for t in sp.schemas}, added), report
    report.notes[:] = [n for n in report.notes if kernel.OUTLIER_NOTE not in n]  # the driver's, over all accounts
    return tables, report


def validate_bucket(sp: Split, b: int, config: DataConfig, touches_duplicates: str | None,
                    instants: Sequence[int]) -> kernel.BucketResult:
    """Bucket ``b`` loaded by the local loader from its raw rows, as :func:`engines.spark.kernel.validate_bucket`
    loads a bucket's frames; with its planning statistics. A bucket with accounts and events is loaded as it is
    first (taking the sentinel out again copies its log); one the loader refuses is loaded again with the
    sentinel, which tells a degenerate bucket (no events, only unknown accounts) from bad input."""
    try:
        try:
            if not (sp.rows["accounts"][b] and sp.rows["events"][b]):
                raise PipelineError("a bucket without accounts or events")
            tables, report = _loaded(sp, b, config, touches_duplicates, sentinel=False)
        except PipelineError:
            tables, report = _loaded(sp, b, config, touches_duplicates, sentinel=True)
    except PipelineError as exc:
        return kernel.BucketResult(None, LoadReport("bucket"), (str(exc), exc.exit_code))
    result = kernel.BucketResult(tables, report)
    for name in ("events", "touches"):
        log_ = getattr(tables, name)
        if log_ is not None:
            result.reach[name] = reach_by_day(tables, log_)
            result.reach_at[name] = {int(t): kernel.reach_before(tables, log_, int(t)) for t in instants}
    return result


def validate_buckets(source: Source, config: DataConfig, sp: Split, instants: Sequence[int],
                     release: Callable[[], None] = lambda: None) -> list[tuple[int, dict]]:
    """Each bucket validated by the local loader; its tables pickled to ``folder/validated/<b>.pkl`` and its raw
    parts deleted; per bucket what the driver needs (report, error, planning statistics, the driver's tables).
    ``release``: called after each bucket (to give its memory back)."""
    dup = {t: duplicates_setting(source, config, t) for t in ("events", "touches") if t in sp.schemas}
    events_config = replace(config, duplicates=dup["events"])
    (sp.folder / "validated").mkdir(exist_ok=True)
    metas = []
    for b in range(sp.buckets):
        result = validate_bucket(sp, b, events_config, dup.get("touches"), instants)
        shutil.rmtree(sp.folder / str(b), ignore_errors=True)
        with open(sp.folder / "validated" / f"{b}.pkl", "wb") as handle:
            pickle.dump(result.tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
        metas.append((b, _meta(result)))
        del result
        release()
    return metas


def _meta(result: kernel.BucketResult) -> dict:
    """What the driver keeps of a validated bucket (as the Spark engine's buckets report it)."""
    meta = {"report": result.report, "error": result.error, "reach": result.reach, "reach_at": result.reach_at}
    t = result.tables
    if t is not None:
        meta.update(accounts=t.accounts, created_us=t.created_us, converted_us=t.converted_us,
                    conversions=t.conversions, fit_columns=t.fit_columns, data_end_us=t.data_end_us,
                    names={k: getattr(t, k).names for k in ("events", "touches") if getattr(t, k) is not None},
                    has_user=t.events.user is not None, has_quantity=t.events.quantity is not None,
                    n_accounts=t.n_accounts)
    return meta


def whole_table_error(source: Source, config: DataConfig, fit: list[str]) -> None:
    """Raise the first error the local loader's checks find over the whole source (accounts, keys, then each
    log's columns), as the in-memory path raises it; nothing when they all pass. ``fit``: the accounts' fit
    columns (:func:`features.data.mapping.canonical_views`)."""
    report = LoadReport(source.description)
    accounts = read_accounts(source, config, fit, report)
    logs = ["events", "conversions"] + (["touches"] if "touches" in source.tables else [])
    register_keys(source, ["accounts", *logs], config, report, accounts["account_id"])
    for table in logs:
        rows, _ = check_columns(source, table, config, columns_of(source, table))
        if table == "events" and rows == 0:
            raise DataError("events", None, "is empty")


def assembled(source: Source, config: DataConfig, fit: list[str], metas: list[tuple[int, dict]]
              ) -> tuple[Tables, LoadReport]:
    """The driver's tables and the summed load report; a bucket's error raised as the whole source gives it."""
    error = first_error(metas)
    if error is not None:
        whole_table_error(source, config, fit)
        raise error
    return assemble(metas, config, source.description)
