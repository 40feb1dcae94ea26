"""Splitting a source into account buckets (engines.local_split): every row lands in its account's bucket
(:func:`engines.buckets.buckets_of`, tested in test_buckets.py) and comes back whole."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from engines.buckets import buckets_of
from engines.local_split import _runs, bucket_tables, compact_dictionaries, split
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


def _parquet_in_groups(tmp_path, data: DataConfig) -> DataConfig:
    """The demo world of ``data`` as a Parquet folder whose events are two files of many small row groups."""
    import pyarrow.parquet as pq

    source = open_source(data)
    try:
        tables = {t: source.con.sql(f'SELECT * FROM "raw_{t}"').to_arrow_table() for t in source.tables}
    finally:
        source.con.close()
    folder = tmp_path / "world"
    (folder / "events").mkdir(parents=True)
    events = tables.pop("events")
    half = len(events) // 2
    pq.write_table(events.slice(0, half), folder / "events" / "part-0.parquet", row_group_size=700)
    pq.write_table(events.slice(half), folder / "events" / "part-1.parquet", row_group_size=900)
    for table, rows in tables.items():
        pq.write_table(rows, folder / f"{table}.parquet")
    return DataConfig(dir=str(folder))


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_readers_at_once_give_every_bucket_its_rows_in_the_sources_order(tmp_path, workers) -> None:
    data = _parquet_in_groups(tmp_path, DataConfig(demo={"accounts": 120, "days": 60, "start": "2024-01-01",
                                                         "users": False, "attribute_history": False}))
    source = open_source(data)
    try:
        one = split(source, data, 5, tmp_path / "one", workers=1)
        many = split(source, data, 5, tmp_path / "many", workers=workers)
    finally:
        source.con.close()
    assert len(list((tmp_path / "many").glob("*/events.*.arrow"))) > 5  # several readers wrote each bucket
    for b in range(5):
        alone, together = bucket_tables(one, b), bucket_tables(many, b)
        for table in alone:
            assert together[table].to_pylist() == alone[table].to_pylist(), (b, table)
    for table in one.rows:
        assert (one.rows[table] == many.rows[table]).all()
        assert one.anchors[table].to_pylist() == many.anchors[table].to_pylist()


def test_row_groups_are_cut_into_contiguous_runs_of_about_equal_rows() -> None:
    groups = [("a", g, 100) for g in range(6)] + [("b", g, 50) for g in range(4)]
    runs = _runs(groups, 3)
    assert [g for run in runs for g in run] == groups  # every group once, in order
    assert [sum(r for _, _, r in run) for run in runs] == [300, 200, 300]  # cuts nearest 266.7 and 533.3
    assert _runs(groups[:1], 4) == [groups[:1]]  # never more runs than groups
    assert _runs(groups, 1) == [groups]


def test_the_split_is_uncompressed_when_the_disk_has_room_and_lz4_when_not(tmp_path, monkeypatch) -> None:
    from engines import local_split

    data = _parquet_in_groups(tmp_path, DataConfig(demo={"accounts": 60, "days": 30, "start": "2024-01-01",
                                                         "users": False, "attribute_history": False}))
    source = open_source(data)
    try:
        roomy = split(source, data, 3, tmp_path / "roomy")
        monkeypatch.setattr(local_split, "DISK_SHARE", 0.0)  # no room: compressed
        tight = split(source, data, 3, tmp_path / "tight")
        csv = DataConfig(demo={"accounts": 60, "days": 30, "start": "2024-01-01"})
    finally:
        source.con.close()
    assert roomy.compression["events"] is None and tight.compression["events"] == "lz4"
    assert local_split.compression(open_source(csv), "events", [], tmp_path) == "lz4"  # not Parquet: size unknown
    for b in range(3):
        assert bucket_tables(roomy, b)["events"].to_pylist() == bucket_tables(tight, b)["events"].to_pylist()
    size = lambda sp: sum(p.stat().st_size for p in sp.folder.rglob("*.arrow"))  # noqa: E731
    assert size(roomy) > size(tight)


def test_readers_are_as_many_as_the_open_file_limit_allows(tmp_path, monkeypatch) -> None:
    from engines import local_split

    data = _parquet_in_groups(tmp_path, DataConfig(demo={"accounts": 60, "days": 30, "start": "2024-01-01",
                                                         "users": False, "attribute_history": False}))
    monkeypatch.setattr(local_split, "open_files_allowed", lambda: local_split.OPEN_FILES_MARGIN + 2 * 5)
    source = open_source(data)
    try:
        sp = split(source, data, 5, tmp_path / "few", workers=4)  # room for 2 readers' 5 streams each
    finally:
        source.con.close()
    assert {p.name for p in (tmp_path / "few").glob("*/events.*.arrow")} == {"events.0.arrow", "events.1.arrow"}
    assert int(sp.rows["events"].sum()) > 0
