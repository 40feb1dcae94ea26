"""Arrow on the executors (no pyspark, no pandas for raw rows): the bucket of every row, a table cut per bucket,
parts put in a table's columns and types.

The bucket of a row is :func:`engines.buckets.buckets_of` (the local engine's buckets too).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from engines.buckets import buckets_of


def naive_utc(table: pa.Table) -> pa.Table:
    """Spark's instants (Arrow timestamps in UTC) as naive UTC wall times, as PySpark hands them to pandas: the
    loader then reads them as the local engine reads naive times (in ``data.timezone``)."""
    fields = [pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) and f.type.tz else f
              for f in table.schema]
    return table if all(a is b for a, b in zip(fields, table.schema)) else table.cast(pa.schema(fields))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order and types (columns it lacks: nulls), as a union of
    Parquet parts by name reads it."""
    if table.schema.equals(schema):
        return table
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def split(table: pa.Table, id_column: str, n: int) -> Iterator[tuple[int, pa.Table]]:
    """``table``'s rows per bucket (of ``id_column``), in bucket order (each bucket's rows a slice of one copy)."""
    if not len(table):
        return
    bucket = buckets_of(table.column(id_column), n)
    order = np.argsort(bucket, kind="stable")  # 16-bit keys (up to 32,767 buckets): numpy's radix sort
    ordered = table.combine_chunks().take(pa.array(order))  # one chunk: take is twice as fast
    counts = np.bincount(bucket, minlength=n)
    start = 0
    for b in np.flatnonzero(counts):
        yield int(b), ordered.slice(start, int(counts[b]))
        start += int(counts[b])
