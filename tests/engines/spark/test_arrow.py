"""The Arrow pieces the executors run: a table cut per bucket and put back together, parts put in a table's
columns and types, Spark's instants as naive UTC. No Spark here (the hash: tests/engines/test_buckets.py)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engines.buckets import buckets_of
from engines.spark.arrow import conform, naive_utc, split


def test_a_table_cut_per_bucket_comes_back_whole() -> None:
    table = pa.table({"account_id": [f"a{i % 50}" for i in range(1000)], "n": np.arange(1000)})
    cut = list(split(table, "account_id", 3))
    assert [b for b, _ in cut] == sorted({b for b, _ in cut})
    back = pa.concat_tables([part for _, part in cut])
    assert sorted(back.column("n").to_pylist()) == list(range(1000))
    for bucket, part in cut:  # every row of a part belongs to its bucket
        assert (buckets_of(part.column("account_id"), 3) == bucket).all()
    assert list(split(table.slice(0, 0), "account_id", 3)) == []


def test_parts_with_other_columns_take_the_tables_schema() -> None:
    schema = pa.schema([("account_id", pa.string()), ("quantity", pa.float64())])
    part = pa.table({"account_id": ["a"]})
    assert conform(part, schema).column("quantity").to_pylist() == [None]
    assert conform(part, schema).schema == schema


def test_spark_instants_become_naive_utc_wall_times() -> None:
    aware = pa.table({"t": pa.array([0, 86_400_000_000], pa.timestamp("us", "UTC"))})
    out = naive_utc(aware)
    assert out.schema.field("t").type == pa.timestamp("us")
    assert out.column("t").cast(pa.int64()).to_pylist() == [0, 86_400_000_000]
