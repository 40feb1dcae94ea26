"""The Arrow pieces the executors run: buckets by account id (one per id, whatever its type), a table cut per
bucket and put back together, Spark's instants as naive UTC. No Spark here."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engines.spark.arrow import buckets_of, conform, from_ipc, naive_utc, split, to_ipc


def test_an_id_lands_in_one_bucket_whatever_its_type() -> None:
    text = buckets_of(pa.array(["12", "7", "abc", None]), 5)
    assert (buckets_of(pa.array([12, 7]), 5) == text[:2]).all()
    assert (buckets_of(pa.array([12.0, 7.0]), 5) == text[:2]).all()  # whole-number floats as integers
    assert (buckets_of(pa.chunked_array([["12"], ["7"]]), 5) == text[:2]).all()
    assert text[3] == 0  # a null id: bucket 0, whose loader reports it
    ids = pa.array([f"a{i}" for i in range(2000)])
    counts = np.bincount(buckets_of(ids, 4), minlength=4)
    assert counts.min() > 400  # spread over the buckets
    assert (buckets_of(ids, 4) == buckets_of(ids, 4)).all()


def test_a_table_cut_per_bucket_comes_back_whole() -> None:
    table = pa.table({"account_id": [f"a{i % 50}" for i in range(1000)], "n": np.arange(1000)})
    cut = list(split(table, "account_id", 3))
    assert [b for b, _ in cut] == sorted({b for b, _ in cut})
    back = from_ipc([blob for _, blob in cut])
    assert sorted(back.column("n").to_pylist()) == list(range(1000))
    for bucket, blob in cut:  # every row of a blob belongs to its bucket
        part = from_ipc([blob])
        assert (buckets_of(part.column("account_id"), 3) == bucket).all()


def test_parts_with_other_columns_take_the_tables_schema() -> None:
    schema = pa.schema([("account_id", pa.string()), ("quantity", pa.float64())])
    part = pa.table({"account_id": ["a"]})
    assert conform(part, schema).column("quantity").to_pylist() == [None]
    assert from_ipc([to_ipc(part)], schema).schema == schema
    assert from_ipc([], schema).num_rows == 0


def test_spark_instants_become_naive_utc_wall_times() -> None:
    aware = pa.table({"t": pa.array([0, 86_400_000_000], pa.timestamp("us", "UTC"))})
    out = naive_utc(aware)
    assert out.schema.field("t").type == pa.timestamp("us")
    assert out.column("t").cast(pa.int64()).to_pylist() == [0, 86_400_000_000]
