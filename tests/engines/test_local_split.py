"""Splitting a source into account buckets (engines.local_split): every row lands in its account's bucket
(:func:`engines.buckets.buckets_of`, tested in test_buckets.py) and comes back whole."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engines.buckets import buckets_of
from engines.local_split import bucket_tables, compact_dictionaries, split
from features.config import DataConfig
from features.data.load import open_source


def test_a_source_split_in_buckets_comes_back_whole(tmp_path) -> None:
    data = DataConfig(demo={"accounts": 120, "days": 60, "start": "2024-01-01"})
    source = open_source(data)
    try:
        sp = split(source, data, 4, tmp_path)
    finally:
        source.con.close()
    parts = [bucket_tables(sp, b) for b in range(4)]
    events = [p["events"] for p in parts]
    assert sum(len(e) for e in events) == int(sp.rows["events"].sum()) > 1000
    for b, frame in enumerate(events):
        assert (buckets_of(frame.column("account_id"), 4) == b).all()
    assert len({pa.concat_tables([p["accounts"] for p in parts]).column("account_id").to_pylist().count(i)
                for i in parts[0]["accounts"].column("account_id").to_pylist()}) == 1
    assert np.count_nonzero(sp.rows["events"]) == 4


def test_a_buckets_batch_keeps_only_the_dictionary_entries_its_rows_use() -> None:
    ids = pa.array([f"acc{i}" for i in range(40)] + [None]).dictionary_encode()
    rows = pa.record_batch([ids.take(pa.array([7, 3, 40, 7, 12])), pa.array([1, 2, 3, 4, 5])], names=["id", "n"])
    small = compact_dictionaries(rows)
    assert small.column(0).dictionary.to_pylist() == ["acc3", "acc7", "acc12"]  # in the batch dictionary's order
    assert small.column(0).to_pylist() == rows.column(0).to_pylist() == ["acc7", "acc3", None, "acc7", "acc12"]
    assert small.schema == rows.schema and small.column(1).equals(rows.column(1))
    names = pa.array(["a", "b", "a", "a", "b", "a", "a", "a"]).dictionary_encode()  # a small dictionary: as it is
    assert compact_dictionaries(pa.record_batch([names], names=["event"])).column(0).dictionary.equals(names.dictionary)
