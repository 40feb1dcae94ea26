"""Splitting a source into account buckets (engines.local_split): every row lands in its account's bucket
(:func:`engines.buckets.buckets_of`, tested in test_buckets.py) and comes back whole."""
from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engines.buckets import buckets_of
from engines import local_split
from engines.local_split import bucket_tables, compact_dictionaries, read_ahead, split
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


def test_reading_ahead_gives_the_batches_in_order_from_a_second_thread_and_passes_errors_on() -> None:
    threads = []

    def batches():
        for i in range(5):
            threads.append(threading.current_thread())
            yield i
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for batch in read_ahead(batches()):
            got.append(batch)
    assert got == [0, 1, 2, 3, 4] and threading.current_thread() not in threads


def test_the_overlapped_split_of_parquet_writes_each_bucket_its_rows_in_the_source_order(tmp_path, monkeypatch
                                                                                          ) -> None:
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=120, days=60, start="2024-01-01", seed=5))
    world.write(tmp_path / "world", weekly_truth=False)
    pq.write_table(pa.Table.from_pandas(world.events, preserve_index=False), tmp_path / "world" / "events.parquet",
                   row_group_size=500)  # many row groups: reads, sorts and writes overlap
    monkeypatch.setattr(local_split, "BATCH_ROWS", 500)
    data = DataConfig(dir=str(tmp_path / "world"))
    source = open_source(data)
    try:
        sp = split(source, data, 4, tmp_path / "spill")
    finally:
        source.con.close()
    whole = pq.read_table(tmp_path / "world" / "events.parquet")
    bucket = buckets_of(whole.column("account_id"), 4)
    assert len(whole) > 10 * 500 and pa.types.is_dictionary(sp.schemas["events"].field("account_id").type)
    for b in range(4):
        got = bucket_tables(sp, b)["events"].cast(whole.schema)
        assert got.equals(whole.filter(pa.array(bucket == b))) and sp.rows["events"][b] == (bucket == b).sum()
