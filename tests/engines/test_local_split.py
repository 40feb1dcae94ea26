"""Splitting a source into account buckets (engines.local_split): an account's rows land in one bucket whatever
the id's type (``12``, ``12.0``, ``'12'``), in any batch; the per-day reach counts equal the Spark kernel's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from engines.local_split import buckets_of, reach_by_day
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
