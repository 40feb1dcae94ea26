"""Times written as text in a format other than ISO-8601 (``data.columns.<table>.<column>_format``) load on
Spark as they load locally: the same load report (``data.duplicates=auto`` decided over the whole table,
counted part by part) and the same training table. Spark 4's ``to_timestamp`` reads ISO text only and throws
on ``31/01/2024 14:05`` under ANSI mode, so the engine must not read such text itself.

engine=spark reads Parquet (not CSV): the text a CSV export holds is written to Parquet files here, in parts."""
from __future__ import annotations

import pandas as pd
import pytest

from engines.local import LocalEngine
from features.config import TIME_COLUMN, DataConfig, FeatureConfig

# slow: starts Spark (a JVM); the "spark" group keeps every Spark test on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark"),
              pytest.mark.filterwarnings("ignore:PySpark does not yet")]

MINUTE, DAY = "%d/%m/%Y %H:%M", "%d/%m/%Y"


def _source(tmp_path, fmt: str) -> DataConfig:
    """The demo world with every table's time as text in ``fmt`` (``DAY``: the times floored to their day, so
    every event is at midnight: a date-only export whose repeated rows ``auto`` keeps)."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=150, days=120, start="2024-01-01", seed=3))
    columns = {}
    for table, column in TIME_COLUMN.items():
        frame = getattr(world, table).copy()
        times = frame[column].dt.floor("D") if fmt == DAY else frame[column]
        if table == "account_attributes" and fmt == DAY:  # two changes on one day: a date-only export keeps the last
            frame = frame[~pd.DataFrame({"a": frame["account_id"], "n": frame["attribute"], "d": times}).duplicated(
                keep="last").to_numpy()]
            times = times.loc[frame.index]
        frame[column] = times.dt.strftime(fmt)
        columns[table] = {f"{column}_format": fmt}
        if table == "events":
            (tmp_path / "events").mkdir()
            for i, lo in enumerate(range(0, len(frame), 8000)):
                frame.iloc[lo:lo + 8000].to_parquet(tmp_path / "events" / f"part-{i}.parquet", index=False)
        else:
            frame.to_parquet(tmp_path / f"{table}.parquet", index=False)
    return DataConfig.from_mapping({"dir": str(tmp_path), "columns": columns})


@pytest.mark.parametrize("fmt", [MINUTE, DAY], ids=["minute", "date-only"])
def test_text_times_in_a_format_load_and_build_as_locally(spark_engine, tmp_path, fmt) -> None:
    data = _source(tmp_path, fmt)
    local = LocalEngine()
    (st, sr), (lt, lr) = spark_engine.load_tables(data), local.load_tables(data)
    assert (sr.rows_read, sr.set_aside, sr.notes) == (lr.rows_read, lr.set_aside, lr.notes)
    assert any("day resolution" in note for note in lr.notes) == (fmt == DAY)  # auto decided both ways
    assert lr.rows_read["events"] > 1000
    pd.testing.assert_frame_equal(st.accounts, lt.accounts)
    snapshots = [pd.Timestamp("2024-04-22") - pd.Timedelta(weeks=i) for i in range(4)][::-1]
    config = FeatureConfig().for_source(data)
    spec = local.plan_features(lt, snapshots[-1], config)
    assert spark_engine.plan_features(st, snapshots[-1], config) == spec
    pd.testing.assert_frame_equal(spark_engine.build_training_table(st, snapshots, spec, 30),
                                  local.build_training_table(lt, snapshots, spec, 30))


def test_buckets_wait_in_the_scratch_dir_and_go_with_the_tables_or_the_failed_load(spark, tmp_path) -> None:
    """``engine.scratch_dir`` as a file:// URI: the buckets wait there between stages (features cell for cell the
    local engine's); the run's folder is deleted with the tables, and at once when a load fails."""
    import gc

    from demo import DemoConfig, generate_demo
    from engines.settings import EngineConfig
    from engines.spark import SparkEngine
    from features.errors import DataError

    from .conftest import SPARK_CONF

    scratch = tmp_path / "scratch"
    engine = SparkEngine(EngineConfig(name="spark", partitions=3, conf=SPARK_CONF, scratch_dir=f"file://{scratch}"))
    data = DataConfig(demo={"accounts": 120, "days": 70, "start": "2024-01-01", "seed": 8})
    tables, _ = engine.load_tables(data)
    runs = list(scratch.iterdir())
    assert len(runs) == 1 and sorted(p.name for p in (runs[0] / "validated").iterdir()) == ["0.pkl", "1.pkl", "2.pkl"]
    assert not any((runs[0] / "split").rglob("*.arrow"))  # split parts go once their bucket is validated
    local = LocalEngine()
    lt, _ = local.load_tables(data)
    t = pd.Timestamp("2024-03-04")
    spec = local.plan_features(lt, t, FeatureConfig().for_source(data))
    pd.testing.assert_frame_equal(engine.build_features(tables, [t], spec), local.build_features(lt, [t], spec))
    del tables
    gc.collect()
    assert list(scratch.iterdir()) == []
    world = generate_demo(DemoConfig(accounts=60, days=40, start="2024-01-01", seed=2))
    events = world.events.assign(timestamp=world.events["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    events.loc[events.index[:5], "timestamp"] = "yesterday"
    with pytest.raises(DataError, match="5 values cannot be read"):
        engine.load_frames({"accounts": world.accounts, "events": events, "conversions": world.conversions})
    assert list(scratch.iterdir()) == []
