"""The account ids and event (touch) names of a log table, coded straight from Parquet dictionaries.

Through the canonical view (:func:`features.sources.canonical_views`) DuckDB decodes the account id and
the name of every row as text and joins tens of millions of ids: most of the time of loading. Parquet
writers store such columns dictionary-encoded per row group; read as Arrow dictionaries, each distinct
id of a row group is looked up once and every row takes its code by index.

Only these two key columns are read here, and only where the view would pass them through unchanged:
a table read from Parquet file(s) of ``data.dir`` (not an export), its account ids and the accounts'
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

from .config import DataConfig
from .sources import Source, mapped

_INT_KEYS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


@dataclass(frozen=True)
class Plan:
    """The Parquet files of a log table and the source columns of its account id and name."""

    files: tuple[str, ...]
    account_id: str
    name: str


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
    files = source.parquet.get(table)
    if not files:
        return None
    account_id, name = mapped(config, table, "account_id"), mapped(config, table, "event" if table == "events"
                                                                     else "touch")
    duck = source.columns(table)
    if duck.get(name) != "VARCHAR" or duck.get(account_id) not in ("VARCHAR", *_INT_KEYS):
        return None
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException):
            return None
        if schema.get_field_index(account_id) < 0 or schema.get_field_index(name) < 0:
            return None  # a part without the column: DuckDB reads it as NULL (union_by_name)
        ids, names = _plain(schema.field(account_id).type), _plain(schema.field(name).type)
        text_ids = duck[account_id] == "VARCHAR"
        if names != pa.string() or (ids != pa.string() if text_ids else not pa.types.is_integer(ids)):
            return None
    return Plan(tuple(map(str, files)), account_id, name)


def _read(plan_: Plan, column: str, dictionary: bool) -> pa.ChunkedArray:
    files = list(plan_.files) if len(plan_.files) > 1 else plan_.files[0]
    return pq.read_table(files, columns=[column], read_dictionary=[column] if dictionary else None).column(0)


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


def _codes(chunks: list[pa.DictionaryArray], which: list[int], sizes: list[int], lookup: np.ndarray) -> np.ndarray:
    """Per row, ``lookup`` at the row's dictionary value (``sizes``: the distinct dictionaries' lengths)."""
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    out = np.empty(sum(len(c) for c in chunks), dtype=np.int32)
    row = 0
    for chunk, k in zip(chunks, which):
        indices = chunk.indices
        if indices.null_count:  # a null key is an error the caller raises; its index may be anything
            indices = indices.fill_null(0)
        indices = indices.to_numpy(zero_copy_only=False)
        np.take(lookup[starts[k]:starts[k + 1]], indices, out=out[row:row + len(chunk)])
        row += len(chunk)
    return out


def _account_codes(column: pa.ChunkedArray, keys: pa.Array) -> np.ndarray:
    """Row number of each row's account id among ``keys`` (-1: not an account)."""
    if pa.types.is_integer(_plain(column.type)):
        values = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        # the accounts' ids have the same DuckDB type, so they fit the column's (widened) type
        wide = pa.int64() if pa.types.is_signed_integer(values.type) else pa.uint64()
        hit = pc.index_in(values.cast(wide), value_set=keys.cast(wide))
        return hit.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return _account_codes_text(column, keys)


def _account_codes_text(column: pa.ChunkedArray, keys: pa.Array) -> np.ndarray:
    chunks, which, values = _by_dictionary(column)
    found = pc.index_in(values, value_set=keys.cast(pa.large_string())).fill_null(-1)
    sizes = [len(chunks[which.index(k)].dictionary) for k in range(max(which, default=-1) + 1)]
    return _codes(chunks, which, sizes, found.to_numpy(zero_copy_only=False).astype(np.int32))


def _names(column: pa.ChunkedArray) -> tuple[list[tuple[str, int]], np.ndarray]:
    """Names with their row counts, most frequent first (ties by name, as validate._check_columns orders
    them), and each row's code: its name's position in that list."""
    chunks, which, values = _by_dictionary(column)
    distinct = pc.unique(values)
    sizes = [len(chunks[which.index(k)].dictionary) for k in range(max(which, default=-1) + 1)]
    where = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False).astype(np.int32)
    per_row = _codes(chunks, which, sizes, where)
    if column.null_count:  # a null name is an error the caller raises; its rows count nowhere
        valid = np.concatenate([c.is_valid().to_numpy(zero_copy_only=False) for c in chunks])
        counts = np.bincount(per_row[valid], minlength=len(distinct))
    else:
        counts = np.bincount(per_row, minlength=len(distinct))
    text = distinct.to_pylist()
    # DuckDB orders text by its UTF-8 bytes, Python by code points: the same order
    order = sorted((i for i in range(len(text)) if counts[i]), key=lambda i: (-int(counts[i]), text[i]))
    remap = np.full(len(text), -1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return [(text[i], int(counts[i])) for i in order], remap[per_row]


def read_keys(plan_: Plan, keys: pa.Array) -> tuple[int, dict[str, int], list[tuple[str, int]],
                                                    dict[str, np.ndarray]]:
    """Rows, null counts (``account_id``, ``name``), names with their counts, and the coded columns
    ``account`` (row number among ``keys``, the accounts' ids in row order; -1 when unknown) and
    ``kind`` (position of the row's name among the names), in the files' row order."""
    ids = _read(plan_, plan_.account_id, dictionary=True)
    n, nulls = len(ids), {"account_id": ids.null_count}
    col = {"account": _account_codes(ids, keys)}
    del ids
    names = _read(plan_, plan_.name, dictionary=True)
    nulls["name"] = names.null_count
    counted, col["kind"] = _names(names)
    return n, nulls, counted, col
