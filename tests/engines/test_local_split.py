"""Splitting a source into account buckets (engines.local_split): an account's rows land in one bucket whatever
the id's type (``12``, ``12.0``, ``'12'``), in any batch; the per-day reach counts equal the Spark kernel's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from engines.local_split import buckets_of, compact_dictionaries, reach_by_day
from engines.spark import kernel
from features.config import DataConfig
from features.data.load import load_tables


def test_an_id_has_one_bucket_whatever_its_type_or_batch() -> None:
    text = buckets_of(pa.array(["12", "7", "abc", None]), 16)
    assert (buckets_of(pa.array([12, 7]), 16) == text[:2]).all()
    assert (buckets_of(pa.array([12.0, 7.0]), 16) == text[:2]).all()
    assert (buckets_of(pa.array(["12", "7"]).dictionary_encode(), 16) == text[:2]).all()
    assert buckets_of(pa.array(["7", "x", "12"]), 16)[[0, 2]].tolist() == text[[1, 0]].tolist()
    assert text[3] == 0  # a null id: bucket 0 (the loader reports it)
    spread = np.bincount(buckets_of(pa.array([f"acc{i}" for i in range(4000)]), 8), minlength=8)
    assert spread.min() > 350  # a hash, not a few hot buckets


def test_reach_per_day_equals_the_spark_kernels() -> None:
    tables, _ = load_tables(DataConfig(demo={"accounts": 200, "days": 90, "start": "2024-01-01"}))
    for log in (tables.events, tables.touches):
        pd.testing.assert_frame_equal(reach_by_day(tables, log), kernel.reach_by_day(tables, log))


def test_a_buckets_batch_keeps_only_the_dictionary_entries_its_rows_use() -> None:
    ids = pa.array([f"acc{i}" for i in range(40)] + [None]).dictionary_encode()
    rows = pa.record_batch([ids.take(pa.array([7, 3, 40, 7, 12])), pa.array([1, 2, 3, 4, 5])], names=["id", "n"])
    small = compact_dictionaries(rows)
    assert small.column(0).dictionary.to_pylist() == ["acc3", "acc7", "acc12"]  # in the batch dictionary's order
    assert small.column(0).to_pylist() == rows.column(0).to_pylist() == ["acc7", "acc3", None, "acc7", "acc12"]
    assert small.schema == rows.schema and small.column(1).equals(rows.column(1))
    names = pa.array(["a", "b", "a", "a", "b", "a", "a", "a"]).dictionary_encode()  # a small dictionary: as it is
    assert compact_dictionaries(pa.record_batch([names], names=["event"])).column(0).dictionary.equals(names.dictionary)
