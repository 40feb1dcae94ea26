"""Which folders the executors read with pyarrow (plain Parquet files and folders of parts) and the read
tasks. No Spark here."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engines.spark.files import head, parquet_tables, read_task

TABLES = ("accounts", "events", "touches")


def _write(tmp_path, events_in_parts: bool) -> None:
    pd.DataFrame({"account_id": ["a", "b"], "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(
        tmp_path / "accounts.parquet", index=False)
    events = pd.DataFrame({"account_id": ["a", "b", "a"], "event": ["x", "y", "x"],
                           "timestamp": pd.to_datetime(["2024-01-03 00:00", "2024-01-04 10:00", "2024-01-05 00:00"], format="ISO8601")})
    if events_in_parts:
        (tmp_path / "events").mkdir()
        events.iloc[:2].to_parquet(tmp_path / "events" / "part-0.parquet", index=False)
        events.iloc[2:].assign(quantity=2.0).to_parquet(tmp_path / "events" / "part-1.parquet", index=False)
    else:
        events.to_parquet(tmp_path / "events.parquet", index=False)


def test_parts_are_read_by_tasks_in_one_schema(tmp_path) -> None:
    _write(tmp_path, events_in_parts=True)
    files = parquet_tables(str(tmp_path), TABLES)
    assert files["touches"] is None and files["events"].rows == 3 and len(files["events"].tasks) == 2
    events = files["events"]
    assert "quantity" in events.schema.names  # the union of the parts' columns
    parts = [read_task(events, i) for i in range(len(events.tasks))]
    assert [p.num_rows for p in parts] == [2, 1] and all(p.schema == events.schema for p in parts)
    assert head(files["accounts"], 1).column("account_id").to_pylist() == ["a"]


def test_key_columns_are_read_as_their_dictionaries(tmp_path) -> None:
    _write(tmp_path, events_in_parts=True)
    keys = {"events": ("account_id", "event", "timestamp"), "accounts": ("account_id", "event")}  # no event there
    files = parquet_tables(str(tmp_path), TABLES, keys)
    events = files["events"]
    assert pa.types.is_dictionary(events.schema.field("account_id").type)
    assert events.schema.field("timestamp").type == pa.timestamp("us")  # not text: read as it is
    parts = [read_task(events, i) for i in range(len(events.tasks))]
    assert all(p.schema == events.schema for p in parts)
    assert pa.concat_tables(parts).column("event").to_pylist() == ["x", "y", "x"]
    assert head(files["accounts"], 1).column("account_id").type == files["accounts"].schema.field("account_id").type


def test_folders_spark_must_read_are_left_to_spark(tmp_path) -> None:
    _write(tmp_path, events_in_parts=False)
    assert parquet_tables(str(tmp_path), TABLES)["events"].rows == 3
    assert parquet_tables("s3a://lake/pql", TABLES) is None  # a path only Hadoop knows
    (tmp_path / "touches" / "day=1").mkdir(parents=True)
    pq.write_table(pa.table({"account_id": ["a"]}), tmp_path / "touches" / "day=1" / "p.parquet")
    assert parquet_tables(str(tmp_path), TABLES) is None  # partition columns in folder names
