"""Arrow on the executors (no pyspark, no pandas for raw rows): the bucket of every row, a table cut into one
Arrow IPC blob per bucket, and a bucket's blobs put back together.

The bucket of a row is a hash of its account id's plain text (whole-number floats as integers, so ``12``,
``12.0`` and ``'12'`` land together, as the local loader matches them). Each distinct id of a batch is
hashed once (``pandas.util.hash_array``: vectorised, with a fixed key, so every executor agrees); the rows
take their bucket by dictionary index.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_IPC = pa.ipc.IpcWriteOptions(compression=None)  # Spark compresses what it shuffles (spark.shuffle.compress)


def id_text(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The plain text of account ids (nulls stay null): numbers as their digits, whole-number floats as integers."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    kind = ids.type.value_type if pa.types.is_dictionary(ids.type) else ids.type
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(kind)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = ids.cast(pa.float64())
        whole = pc.and_(pc.is_finite(values), pc.equal(values, pc.floor(values)))
        as_int = pc.cast(pc.if_else(whole, values, 0.0), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(values, pa.string()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return ids.cast(pa.string())
    try:
        return pc.cast(ids, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a type Arrow cannot print: Python's text of it
        return pa.array([None if v is None else str(v) for v in ids.to_pylist()], pa.string())


def buckets_of(ids: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """The bucket (0 .. n-1) of each account id; null ids go to bucket 0 (its loader reports them)."""
    coded = pc.dictionary_encode(id_text(ids))
    distinct = coded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    per_id = (pd.util.hash_array(distinct) % np.uint64(n)).astype(np.int32) if len(distinct) else np.zeros(0, np.int32)
    index = coded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    out = per_id[index] if len(distinct) else np.zeros(len(coded), np.int32)
    if coded.null_count:
        out = np.where(coded.indices.is_null().to_numpy(zero_copy_only=False), 0, out).astype(np.int32)
    return out


def naive_utc(table: pa.Table) -> pa.Table:
    """Spark's instants (Arrow timestamps in UTC) as naive UTC wall times, as PySpark hands them to pandas: the
    loader then reads them as the local engine reads naive times (in ``data.timezone``)."""
    fields = [pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) and f.type.tz else f
              for f in table.schema]
    return table if all(a is b for a, b in zip(fields, table.schema)) else table.cast(pa.schema(fields))


def to_ipc(table: pa.Table) -> bytes:
    """A table as one compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(blobs: list[bytes], schema: pa.Schema | None = None) -> pa.Table:
    """The tables of ``blobs`` end to end (in ``schema``'s columns and types when given)."""
    tables = [pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs]
    if schema is not None:
        tables = [conform(t, schema) for t in tables]
    if not tables:
        return schema.empty_table() if schema is not None else pa.table({})
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order and types (columns it lacks: nulls), as a union of
    Parquet parts by name reads it."""
    if table.schema.equals(schema):
        return table
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def split(table: pa.Table, id_column: str, n: int) -> Iterator[tuple[int, bytes]]:
    """``table``'s rows per bucket (of ``id_column``), each as one Arrow IPC blob, in bucket order."""
    if not len(table):
        return
    bucket = buckets_of(table.column(id_column), n)
    small = bucket.astype(np.int16) if n <= np.iinfo(np.int16).max else bucket
    order = np.argsort(small, kind="stable")  # 16-bit keys: numpy's radix sort
    ordered = table.combine_chunks().take(pa.array(order))  # one chunk: take is twice as fast
    counts = np.bincount(bucket, minlength=n)
    start = 0
    for b in np.flatnonzero(counts):
        yield int(b), to_ipc(ordered.slice(start, int(counts[b])))
        start += int(counts[b])
