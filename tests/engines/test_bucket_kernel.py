"""The one bucket loader both engines use (engines.bucket_kernel): a bucket is loaded as it is when the loader
takes it, with a sentinel account (taken out again) when it is degenerate, and its error counts its own rows;
per-day reach counted by bincount equals a groupby of every row."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from engines import bucket_kernel
from engines.bucket_kernel import reach_by_day, validate_bucket
from features.config import DataConfig
from features.data.load import load_frames, load_source, load_tables
from features.snapshots import reach_day, reach_start

START = "2024-01-01"


def _world():
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=80, days=60, start=START, seed=4))
    return {t: pa.Table.from_pandas(getattr(world, t), preserve_index=False)
            for t in ("accounts", "events", "conversions")}


def _anchors(frames):
    return {t: f.slice(0, 1) for t, f in frames.items()}


def test_reach_per_day_by_bincount_equals_a_groupby(monkeypatch) -> None:
    tables, _ = load_tables(DataConfig(demo={"accounts": 200, "days": 90, "start": START}))
    for log in (tables.events, tables.touches):
        start, ok = reach_start(tables, log)
        grouped = bucket_kernel._summary(log, log.kind, ok, [reach_day(start[ok])])
        pd.testing.assert_frame_equal(reach_by_day(tables, log), grouped)
        monkeypatch.setattr(bucket_kernel, "MAX_CELLS", 1)  # a log over too many days: the groupby itself
        pd.testing.assert_frame_equal(reach_by_day(tables, log), grouped)
        monkeypatch.undo()


def test_a_whole_bucket_loads_as_the_local_loader_loads_it() -> None:
    frames = _world()
    result = validate_bucket(frames, _anchors(frames), DataConfig(duplicates="set_aside"))
    tables, report = load_frames({t: f.to_pandas() for t, f in frames.items()}, DataConfig(duplicates="set_aside"))
    assert result.error is None and result.report.rows_read == report.rows_read
    pd.testing.assert_frame_equal(result.tables.accounts, tables.accounts)
    assert (result.tables.events.ts == tables.events.ts).all()


def test_a_bucket_without_events_loads_with_a_sentinel_taken_out_again() -> None:
    frames = _world()
    bare = {**frames, "events": frames["events"].slice(0, 0)}
    result = validate_bucket(bare, _anchors(frames), DataConfig(duplicates="set_aside"))
    assert result.error is None
    assert result.report.rows_read["events"] == 0 and len(result.tables.events) == 0
    assert result.tables.n_accounts == len(frames["accounts"])  # no sentinel account left


def test_a_buckets_error_counts_its_own_rows() -> None:
    frames = _world()
    events = frames["events"].to_pandas()
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    events.loc[events.index[:3], "timestamp"] = "yesterday"  # the first row too: the sentinel copies it
    frames["events"] = pa.Table.from_pandas(events, preserve_index=False)
    result = validate_bucket(frames, _anchors(frames), DataConfig(duplicates="set_aside"))
    assert result.tables is None and result.error.table == "events"
    assert result.error.problem.startswith("3 values cannot be read")


@pytest.mark.parametrize("table", ["accounts", "events"])
def test_an_empty_bucket_table_takes_the_anchors_types(table) -> None:
    frames = _world()
    anchors = _anchors(frames)
    empty = {**frames, "events": frames["events"].slice(0, 0), "accounts": frames["accounts"].slice(0, 0),
             "conversions": frames["conversions"].slice(0, 0)}
    result = validate_bucket(empty, anchors, DataConfig(duplicates="set_aside"))
    assert result.error is None and result.tables.n_accounts == 0 and len(getattr(result.tables, table)) == 0


def test_a_buckets_duckdb_load_uses_as_many_threads_as_pyarrow(monkeypatch) -> None:
    """DuckDB sizes its pool to the machine; a bucket's load follows pyarrow's CPU count instead, which a Spark
    task sets to its own cores (engines.spark.cores) and the local engine leaves at the machine's."""
    seen = []

    def spy(source, config):
        seen.append(source.con.execute("SELECT current_setting('threads')").fetchone()[0])
        return load_source(source, config)

    monkeypatch.setattr(bucket_kernel, "load_source", spy)
    frames, before = _world(), pa.cpu_count()
    try:
        for n in (1, 3):
            pa.set_cpu_count(n)
            validate_bucket(frames, _anchors(frames), DataConfig())
            assert seen[-1] == n
    finally:
        pa.set_cpu_count(before)
