"""The account ids and event (touch) names of a log table, coded straight from Parquet dictionaries.

Through the canonical view (:func:`features.data.mapping.canonical_views`) DuckDB decodes the account id and
the name of every row as text and joins tens of millions of ids: most of the time of loading. Parquet
writers store such columns dictionary-encoded per row group; read as Arrow dictionaries, each distinct
id of a row group is looked up once and every row takes its code by index.

Only these two key columns are read here, and only where the view would pass them through unchanged:
a table read from Parquet file(s) of ``data.dir`` (not an export) or from an Arrow table as it is (a bucket of
accounts, :mod:`engines.local_split`, whose split keeps the files' dictionaries), its account ids and the accounts'
of one DuckDB type (text or integers) and its names stored as text. The other columns (timestamps,
user ids, quantities) still come from the canonical view, in the same row order (a scan without a join
keeps the files' order), so their conversions and checks are the view's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.config import DataConfig
from features.data.mapping import mapped
from features.data.sources import Source
from features.tables import kind_dtype

_INT_KEYS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


@dataclass(frozen=True)
class Plan:
    """The Parquet files (or the Arrow table) of a log table and the source columns of its account id and name."""

    files: tuple[str, ...]
    account_id: str
    name: str
    table: pa.Table | None = None  # an Arrow table registered as it is (a bucket of accounts): read instead of files


def _plain(t: pa.DataType) -> pa.DataType:
    """A type without dictionary encoding and with small offsets (what DuckDB sees of it)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def plan(source: Source, table: str, config: DataConfig) -> Plan | None:
    """How to read the keys of ``table`` (events or touches) from Parquet, or None: DuckDB joins them.

    The caller checks that the table's account ids are matched as they are (no conversion between
    tables) and have the DuckDB type of the accounts' ids.
    """
    files, arrow = source.parquet.get(table), source.arrow.get(table)
    if not files and arrow is None:
        return None
    account_id, name = mapped(config, table, "account_id"), mapped(config, table, "event" if table == "events"
                                                                     else "touch")
    duck = source.columns(table)
    if duck.get(name) != "VARCHAR" or duck.get(account_id) not in ("VARCHAR", *_INT_KEYS):
        return None
    for path in files or [None]:
        try:
            schema = pq.read_schema(path) if path is not None else arrow.schema
        except (OSError, pa.ArrowException):
            return None
        if schema.get_field_index(account_id) < 0 or schema.get_field_index(name) < 0:
            return None  # a part without the column: DuckDB reads it as NULL (union_by_name)
        ids, names = _plain(schema.field(account_id).type), _plain(schema.field(name).type)
        text_ids = duck[account_id] == "VARCHAR"
        if names != pa.string() or (ids != pa.string() if text_ids else not pa.types.is_integer(ids)):
            return None
    return Plan(tuple(map(str, files or ())), account_id, name, arrow if not files else None)


def rows(plan_: Plan) -> int:
    """The number of rows in the plan's files (from their footers) or Arrow table."""
    if plan_.table is not None:
        return plan_.table.num_rows
    return sum(pq.ParquetFile(path).metadata.num_rows for path in plan_.files)


_BATCH_ROWS = 1 << 25  # rows of key columns read at once: the memory of a batch, not of the whole log (each
# batch codes its ids with a hash table of the smaller side, see _positions)


def _batches(plan_: Plan):
    """The plan's (account id, name) columns, a few row groups at a time, in the files' row order (an Arrow
    table's, a slice at a time: its chunks, dictionaries included, are shared, not copied)."""
    if plan_.table is not None:
        keys = plan_.table.select([plan_.account_id, plan_.name])
        for lo in range(0, keys.num_rows, _BATCH_ROWS):
            part = keys.slice(lo, _BATCH_ROWS)
            yield part.column(plan_.account_id), part.column(plan_.name)
        return
    for path in plan_.files:
        with pq.ParquetFile(path, read_dictionary=[plan_.account_id, plan_.name]) as f:
            groups, size = [], 0
            for g in range(f.num_row_groups):
                groups.append(g)
                size += f.metadata.row_group(g).num_rows
                if size >= _BATCH_ROWS or g == f.num_row_groups - 1:
                    table = f.read_row_groups(groups, columns=[plan_.account_id, plan_.name])
                    yield table.column(plan_.account_id), table.column(plan_.name)
                    del table
                    groups, size = [], 0


def _by_dictionary(column: pa.ChunkedArray) -> tuple[list[pa.DictionaryArray], list[int], pa.Array]:
    """The chunks as dictionary arrays, the index of each chunk's dictionary among the distinct ones
    (the chunks of one row group share its dictionary), and those dictionaries end to end."""
    chunks = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c) for c in column.chunks]
    seen: dict[tuple[int, int], int] = {}
    which, distinct = [], []
    for chunk in chunks:
        d = chunk.dictionary
        ident = (d.buffers()[1].address, len(d)) if d.buffers()[1] is not None else (id(d), len(d))
        if ident not in seen:
            seen[ident] = len(distinct)
            distinct.append(d)
        which.append(seen[ident])
    values = pa.concat_arrays([d.cast(pa.large_string()) for d in distinct]) if distinct else pa.array(
        [], pa.large_string())
    return chunks, which, values


def _indices(chunk: pa.DictionaryArray) -> np.ndarray:
    """A chunk's dictionary indices; a null's index may be anything: 0 stands in (a null key is an error
    the caller raises, so nothing is coded from it)."""
    indices = chunk.indices.fill_null(0) if chunk.indices.null_count else chunk.indices
    return indices.to_numpy(zero_copy_only=False)


def _codes(chunks: list[pa.DictionaryArray], which: list[int], lookups: list[np.ndarray], out: np.ndarray) -> None:
    """Per row, into ``out``: the value of ``lookups[d]`` at the row's dictionary index (``d``: its chunk's
    dictionary)."""
    pos = 0
    for chunk, k in zip(chunks, which):
        m = len(chunk)
        if len(lookups[k]):
            np.take(lookups[k].astype(out.dtype, copy=False), _indices(chunk), out=out[pos:pos + m])
        else:  # a chunk of nulls only (an error the caller raises)
            out[pos:pos + m] = 0
        pos += m


def _split(values: np.ndarray, chunks: list[pa.DictionaryArray], which: list[int]) -> list[np.ndarray]:
    """``values`` (one per entry of the distinct dictionaries end to end) cut into one array per dictionary."""
    sizes = [0] * (max(which, default=-1) + 1)
    for chunk, k in zip(chunks, which):
        sizes[k] = len(chunk.dictionary)
    return np.split(values, np.cumsum(sizes)[:-1]) if sizes else []


def _account_codes(column: pa.ChunkedArray, keys: pa.Array, out: np.ndarray) -> None:
    """Into ``out``: the row number of each row's account id among ``keys`` (-1: not an account)."""
    if pa.types.is_integer(_plain(column.type)):
        values = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        # the accounts' ids have the same DuckDB type, so they fit the column's (widened) type
        wide = pa.int64() if pa.types.is_signed_integer(values.type) else pa.uint64()
        out[:] = _positions(values.cast(wide), keys.cast(wide))
        return
    chunks, which, values = _by_dictionary(column)
    _codes(chunks, which, _split(_positions(values, keys).astype(np.int32), chunks, which), out)


def _positions(values: pa.Array, keys: pa.Array) -> np.ndarray:
    """The position of each value among ``keys`` (distinct), -1 when absent: ``pc.index_in``, with the hash
    table built on the smaller side, as a join would. A batch of a million-account log names a fraction of
    the accounts, and hashing every account id again for each batch cost ~0.3 s a batch (~3 s per 20 M
    events at a million accounts); coding the batch's values and probing the accounts' ids costs a third."""
    # keys are the accounts' ids: distinct and never null (validation sets such accounts aside first)
    if len(values) >= len(keys):
        return pc.index_in(values, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
    coded = pc.dictionary_encode(values)  # the values may repeat (several row groups' dictionaries end to end)
    where = pc.index_in(keys, value_set=coded.dictionary)  # per account: its entry among the distinct values
    found = where.is_valid().to_numpy(zero_copy_only=False)
    entry = np.full(len(coded.dictionary) + 1, -1, dtype=np.int64)  # the last slot: a null value
    entry[where.filter(where.is_valid()).to_numpy()] = np.flatnonzero(found)
    return entry[coded.indices.fill_null(len(coded.dictionary)).to_numpy(zero_copy_only=False)]


class _Names:
    """Codes rows by name batch after batch: first by the order names are met, renumbered at the end."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self.text: list[str] = []
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, column: pa.ChunkedArray) -> tuple[list[pa.DictionaryArray], list[int], list[np.ndarray]]:
        """Count the rows of ``column`` by name; returns what :func:`_codes` needs to code them (codes in
        meeting order)."""
        chunks, which, values = _by_dictionary(column)
        distinct = pc.unique(values)
        where = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False).astype(np.intp)
        for text in distinct.to_pylist():
            if text not in self.code:
                self.code[text] = len(self.text)
                self.text.append(text)
        met = np.array([self.code[t] for t in distinct.to_pylist()], dtype=np.int32)[where]
        per_entry = np.zeros(len(values), dtype=np.int64)  # rows per entry of the dictionaries end to end
        parts = _split(per_entry, chunks, which)  # views: counting into them counts into per_entry
        for chunk, k in zip(chunks, which):
            parts[k] += np.bincount(_indices(chunk), minlength=len(parts[k]))
        self.counts = np.concatenate([self.counts, np.zeros(len(self.text) - len(self.counts), dtype=np.int64)])
        np.add.at(self.counts, met, per_entry)
        return chunks, which, _split(met, chunks, which)

    def finish(self, codes: np.ndarray, chunk: int = 1 << 22) -> list[tuple[str, int]]:
        """Names with their row counts, most frequent first (ties by name, as checks.check_columns orders
        them), with ``codes`` renumbered in place to positions in that list. (With null names, which the
        caller raises on, the counts are not meaningful.)"""
        text, counts = self.text, self.counts
        # DuckDB orders text by its UTF-8 bytes, Python by code points: the same order
        order = sorted((i for i in range(len(text)) if counts[i]), key=lambda i: (-int(counts[i]), text[i]))
        remap = np.full(len(text), -1, dtype=codes.dtype)
        remap[order] = np.arange(len(order), dtype=codes.dtype)
        if not np.array_equal(remap, np.arange(len(text))):
            for lo in range(0, len(codes), chunk):
                np.take(remap, codes[lo:lo + chunk], out=codes[lo:lo + chunk])
        return [(text[i], int(counts[i])) for i in order]


def read_keys(plan_: Plan, keys: pa.Array) -> tuple[int, dict[str, int], list[tuple[str, int]],
                                                    dict[str, np.ndarray]]:
    """Rows, null counts (``account_id``, ``name``), names with their counts, and the coded columns
    ``account`` (row number among ``keys``, the accounts' ids in row order; -1 when unknown) and
    ``kind`` (position of the row's name among the names), in the files' row order.

    The files are read a few row groups at a time, straight into the two output columns: the key
    columns of the whole log never exist at once."""
    n = rows(plan_)
    col = {"account": np.empty(n, dtype=np.int32), "kind": np.empty(n, dtype=kind_dtype(0))}
    nulls = {"account_id": 0, "name": 0}
    text_keys = keys.cast(pa.large_string()) if not pa.types.is_integer(keys.type) else keys
    names, pos = _Names(), 0
    for ids, named in _batches(plan_):
        m = len(ids)
        if pos + m > n:
            raise RuntimeError(f"the files hold more than the {n:,} rows their footers count")
        nulls["account_id"] += ids.null_count
        nulls["name"] += named.null_count
        _account_codes(ids, text_keys, col["account"][pos:pos + m])
        del ids
        coded = names.add(named)
        del named
        if col["kind"].dtype != kind_dtype(len(names.text)):  # more names than the codes' type holds
            col["kind"] = col["kind"].astype(kind_dtype(len(names.text)))
        _codes(*coded, col["kind"][pos:pos + m])
        del coded
        pos += m
    col = {name: column[:pos] for name, column in col.items()}
    pa.default_memory_pool().release_unused()  # the batches' memory, cached by Arrow's allocator, goes back
    return pos, nulls, names.finish(col["kind"]), col
