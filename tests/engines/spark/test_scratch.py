"""The Spark engine's scratch folder (engines.spark.scratch): a run's folder made under ``engine.scratch_dir`` (a
path or a URI) or, with a local master, under a temporary folder; a cluster master without one is a one-line
ConfigError; bucket parts and validated tables written and read back through pyarrow's filesystems; the run's
folder deleted. No Spark here: a stand-in session answers the master and ``spark.local.dir``."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pyarrow as pa
import pytest

from engines.settings import EngineConfig
from engines.spark.scratch import (STALE_SECONDS, drop_split, fetch, ipc_options, read_parts, remove, run_folder,
                                   store, sweep_stale, validated, write_parts)
from features.errors import ConfigError


def _spark(master: str, local_dir: str | None = None):
    conf = SimpleNamespace(get=lambda key, default=None: local_dir if key == "spark.local.dir" else default)
    return SimpleNamespace(sparkContext=SimpleNamespace(master=master, getConf=lambda: conf))


def test_a_cluster_master_needs_a_shared_scratch_folder() -> None:
    with pytest.raises(ConfigError) as error:
        run_folder(_spark("yarn"), EngineConfig(name="spark"))
    assert str(error.value).startswith("engine.scratch_dir: the Spark master 'yarn' runs executors on other machines")
    assert "\n" not in str(error.value)


def test_a_local_master_takes_a_folder_under_spark_local_dir(tmp_path) -> None:
    folder = run_folder(_spark("local[2]", f"{tmp_path / 'spark-local'},/elsewhere"), EngineConfig(name="spark"))
    assert os.path.dirname(folder) == str(tmp_path / "spark-local") and os.path.isdir(folder)
    remove(folder)
    assert not os.path.exists(folder)


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_a_scratch_dir_holds_the_runs_parts_and_tables(tmp_path, as_uri) -> None:
    base = f"file://{tmp_path}" if as_uri else str(tmp_path)
    folder = run_folder(_spark("spark://cluster:7077"), EngineConfig(name="spark", scratch_dir=base))
    assert folder.startswith(base + "/pql-spark-")
    table = pa.table({"account_id": [f"a{i % 30}" for i in range(300)], "n": list(range(300))})
    assert sum(write_parts(folder, "events", "0", table, "account_id", 3).values()) == 300
    write_parts(folder, "events", "1", table.slice(0, 10), "account_id", 3)
    schemas = {"events": table.schema, "accounts": pa.schema([("account_id", pa.string())])}
    back = [read_parts(folder, b, schemas) for b in range(3)]
    assert sum(len(p["events"]) for p in back) == 310 and all(len(p["accounts"]) == 0 for p in back)
    store(folder, validated(1), {"tables": 1})
    assert len(read_parts(folder, 1, schemas)["events"]) > 0  # a validate task run again finds the same rows
    drop_split(folder)
    assert fetch(folder, validated(1)) == {"tables": 1} and len(read_parts(folder, 1, schemas)["events"]) == 0
    store(folder, "out/pass/1.pkl", [1, 2])
    assert fetch(folder, "out/pass/1.pkl") == [1, 2]
    remove(f"{folder}/out/pass")
    assert list((tmp_path / folder.rsplit("/", 1)[1] / "out").iterdir()) == []
    remove(folder)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("folder, compression", [("/tmp/x/pql-spark-1", None), ("file:///tmp/x", None),
                                                 ("hdfs://nn/scratch", "lz4"), ("s3://bucket/scratch", "lz4")])
def test_parts_are_compressed_only_where_they_cross_a_network(folder, compression) -> None:
    assert ipc_options(folder).compression == compression


def test_parts_on_this_machine_are_written_uncompressed_and_read_back(tmp_path) -> None:
    table = pa.table({"account_id": ["a"] * 20_000, "event": ["the same text every time"] * 20_000})
    write_parts(str(tmp_path), "events", "0", table, "account_id", 1)
    (part,) = (tmp_path / "split").rglob("*.arrow")
    assert part.stat().st_size > 20_000 * len("the same text every time")  # LZ4 would make it a few kB
    assert read_parts(str(tmp_path), 0, {"events": table.schema})["events"].equals(table)


def test_a_scratch_dir_that_cannot_be_made_is_one_line(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError) as error:
        run_folder(_spark("yarn"), EngineConfig(name="spark", scratch_dir=str(tmp_path / "file")))
    assert str(error.value).startswith("engine.scratch_dir: cannot make a folder in") and "\n" not in str(error.value)


def test_scratch_dir_must_be_a_folder_or_null() -> None:
    with pytest.raises(ConfigError, match="engine.scratch_dir"):
        EngineConfig.from_mapping({"name": "spark", "scratch_dir": " "})
    assert EngineConfig.from_mapping({"scratch_dir": None}).scratch_dir is None


def test_a_task_run_twice_leaves_whole_files_and_an_unfinished_one_is_not_read(tmp_path) -> None:
    folder = run_folder(_spark("local[2]", str(tmp_path)), EngineConfig(name="spark"))
    table = pa.table({"account_id": ["a", "b", "c"], "n": [1, 2, 3]})
    schemas = {"events": table.schema}
    write_parts(folder, "events", "0", table, "account_id", 1)
    write_parts(folder, "events", "0", table, "account_id", 1)  # Spark ran the task again
    (tmp_path / folder.rsplit("/", 1)[1] / "split" / "0" / "events.1.arrow.0a1b.tmp").write_bytes(b"half a fi")
    assert read_parts(folder, 0, schemas)["events"].equals(table)
    store(folder, validated(0), "once")
    store(folder, validated(0), "again")
    names = sorted(p.name for p in (tmp_path / folder.rsplit("/", 1)[1] / "validated").iterdir())
    assert names == ["0.pkl"] and fetch(folder, validated(0)) == "again"


def test_run_folders_left_by_killed_runs_are_swept_and_fresh_ones_kept(tmp_path) -> None:
    old, fresh, other = (tmp_path / "pql-spark-old"), (tmp_path / "pql-spark-fresh"), (tmp_path / "mine")
    for folder in (old, fresh, other):
        (folder / "split").mkdir(parents=True)
    long_ago = os.path.getmtime(fresh) - STALE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    assert sweep_stale(str(tmp_path)) == [str(old)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "pql-spark-fresh"]
    os.utime(fresh, (long_ago, long_ago))
    run_folder(_spark("local[1]", str(tmp_path)), EngineConfig(name="spark"))  # a new run sweeps too
    assert "pql-spark-fresh" not in {p.name for p in tmp_path.iterdir()}
