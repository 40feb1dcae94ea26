"""The Spark engine (engines.spark.engine) equals the local engine cell for cell: same load report, same spec,
same feature and training tables (columns, dtypes, values, row order), on the demo world and its quirk
variants, at one and at many snapshots, and on a Parquet folder with its own column names and rows to set
aside; bad input stops it with the local engine's one-line message, counted over every bucket;
``python -m features engine=spark`` writes the local engine's file.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from engines.local import LocalEngine
from features.config import DataConfig, FeatureConfig
from features.errors import DataError


# slow: starts Spark (a JVM); the "spark" group keeps every Spark test on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark"),
              pytest.mark.filterwarnings("ignore:PySpark does not yet")]


START = "2024-01-01"


WORLDS = {  # the demo world, and every quirk variant at once (each changes another part of loading and planning)
    "demo": {},
    "all-quirks": {"day_resolution": True, "id_column": True, "user_ids": False, "touches": False, "single_event": True,
                   "fit_columns": False, "labels_after_days": 60, "stale_share": 0.3},
}


def _same_report(spark_report, local_report) -> None:
    assert spark_report.rows_read == local_report.rows_read
    assert spark_report.set_aside == local_report.set_aside
    assert spark_report.notes == local_report.notes


def _mondays(end: str, n: int) -> list[pd.Timestamp]:
    last = pd.Timestamp(end)
    return [last - pd.Timedelta(weeks=i) for i in range(n)][::-1]


def _check(spark_engine, data: DataConfig, snapshots: list[pd.Timestamp], horizon: int = 30,
           inside_a_day: pd.Timestamp | None = None) -> None:
    local = LocalEngine()
    (st, sr), (lt, lr) = spark_engine.load_tables(data), local.load_tables(data)
    _same_report(sr, lr)
    assert (st.created_us == lt.created_us).all() and (st.converted_us == lt.converted_us).all()
    assert st.data_end_us == lt.data_end_us
    pd.testing.assert_frame_equal(st.accounts, lt.accounts)
    config = FeatureConfig().for_source(data)
    for t in (snapshots[0], snapshots[-1]):  # plans at the oldest and newest as-of (fold starts plan like this)
        assert spark_engine.plan_features(st, t, config) == local.plan_features(lt, t, config)
    spec = local.plan_features(lt, snapshots[-1], config)
    one = [snapshots[-1]]
    pd.testing.assert_frame_equal(spark_engine.build_features(st, one, spec), local.build_features(lt, one, spec))
    pd.testing.assert_frame_equal(spark_engine.build_training_table(st, snapshots, spec, horizon),
                                  local.build_training_table(lt, snapshots, spec, horizon))
    if inside_a_day is not None:  # not a midnight: planned from counts made on the executors for that instant
        spec = spark_engine.plan_features(st, inside_a_day, config)
        assert spec == local.plan_features(lt, inside_a_day, config)
        pd.testing.assert_frame_equal(spark_engine.build_features(st, [inside_a_day], spec),
                                      local.build_features(lt, [inside_a_day], spec))


@pytest.mark.parametrize("quirks", list(WORLDS.values()), ids=list(WORLDS))
def test_demo_worlds_match_cell_for_cell(spark_engine, quirks) -> None:
    data = DataConfig(demo={"accounts": 250, "days": 150, "start": START, "seed": 3, **quirks})
    _check(spark_engine, data, _mondays("2024-05-20", 8), inside_a_day=pd.Timestamp("2024-03-13 15:30"))


def _export(tmp_path, rng: np.random.Generator):
    """A Parquet folder in the user's own column names, events in a folder of parts, with rows to set aside:
    exact duplicates, events of unknown accounts, events before their account existed, repeat conversions."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=200, days=120, start=START, seed=11))
    accounts = world.accounts.rename(columns={"account_id": "workspace"})
    events = world.events.rename(columns={"account_id": "workspace", "timestamp": "ts"})
    events["ts"] = (events["ts"].astype("datetime64[ms]").astype("int64"))  # epoch milliseconds
    extra = events.sample(40, random_state=1)
    unknown = events.sample(15, random_state=2).assign(workspace="ghost")
    early = events.sample(10, random_state=3)
    early["ts"] = early["ts"] - 400 * 86_400_000
    events = pd.concat([events, extra, unknown, early], ignore_index=True).sample(frac=1.0, random_state=4)
    conversions = world.conversions.rename(columns={"account_id": "workspace"})
    repeat = conversions.head(3).assign(converted_at=lambda f: f["converted_at"] + pd.Timedelta(days=2))
    conversions = pd.concat([conversions, repeat], ignore_index=True)
    accounts.to_parquet(tmp_path / "accounts.parquet", index=False)
    conversions.to_parquet(tmp_path / "conversions.parquet", index=False)
    world.touches.rename(columns={"account_id": "workspace"}).to_parquet(tmp_path / "touches.parquet", index=False)
    (tmp_path / "events").mkdir()
    for i, part in enumerate((events.iloc[:3000], events.iloc[3000:9000], events.iloc[9000:])):
        part.to_parquet(tmp_path / "events" / f"part-{i}.parquet", index=False)
    columns = {t: {"account_id": "workspace"} for t in ("accounts", "events", "conversions", "touches")}
    columns["events"].update(timestamp="ts", timestamp_unit="ms")
    return DataConfig.from_mapping({"dir": str(tmp_path), "columns": columns})


def test_a_parquet_folder_with_its_own_names_and_rows_to_set_aside(spark_engine, tmp_path) -> None:
    data = _export(tmp_path, np.random.default_rng(0))
    _, report = LocalEngine().load_tables(data)
    assert report.set_aside["events: exact duplicates"] >= 40 and report.set_aside["events: unknown account"] == 15
    assert report.set_aside["conversions: repeat conversions of a converted account"] == 3
    _check(spark_engine, data, _mondays("2024-04-22", 5))


def test_bad_input_stops_with_the_local_engines_message(spark_engine, tmp_path) -> None:
    data = _export(tmp_path, np.random.default_rng(0))
    part = pd.read_parquet(tmp_path / "events" / "part-1.parquet")
    part.loc[part.index[:2], "workspace"] = None
    part.to_parquet(tmp_path / "events" / "part-1.parquet", index=False)
    with pytest.raises(DataError) as local_error:
        LocalEngine().load_tables(data)
    with pytest.raises(Exception) as spark_error:
        spark_engine.load_tables(data)
    assert str(spark_error.value) == str(local_error.value)
    assert spark_error.value.exit_code == local_error.value.exit_code == 3
    missing = DataConfig.from_mapping({"dir": str(tmp_path), "columns": {"accounts": {"account_id": "nope"}}})
    with pytest.raises(DataError) as local_error:
        LocalEngine().load_tables(missing)
    with pytest.raises(DataError) as spark_error:
        spark_engine.load_tables(missing)
    assert str(spark_error.value) == str(local_error.value)


PEOPLE = {"users_count", "buyers_count", "buyer_active_7d", "buyer_active_30d"}


def test_people_features_and_contacts_match_and_bad_users_stop_alike(spark_engine) -> None:
    from demo import DemoConfig, generate_demo
    from features.data.load import load_frames
    from serve.batch import contacts_of

    data = DataConfig(demo={"accounts": 250, "days": 150, "start": START, "seed": 5})
    local = LocalEngine()
    (st, sr), (lt, lr) = spark_engine.load_tables(data), local.load_tables(data)
    assert sr.rows_read["users"] == lr.rows_read["users"] > 250
    t = pd.Timestamp("2024-05-06")
    spec = local.plan_features(lt, t, FeatureConfig().for_source(data))
    assert PEOPLE <= set(spec.names) and spark_engine.plan_features(st, t, FeatureConfig().for_source(data)) == spec
    spark_features = spark_engine.build_features(st, [t], spec)
    pd.testing.assert_frame_equal(spark_features, local.build_features(lt, [t], spec))
    assert spark_features["buyer_active_30d"].sum() > 0
    # contacts come from each bucket's own users: the same text
    ids = spark_features["account_id"]
    buckets = list(st.state.tables())
    got = pd.concat([contacts_of(b, ids[ids.isin(b.accounts["account_id"])], t, spec.buyers).set_axis(
        ids[ids.isin(b.accounts["account_id"])].index) for b in buckets if b is not None]).sort_index()
    assert got.tolist() == contacts_of(lt, ids, t, spec.buyers).tolist()
    # a user in two accounts (two buckets, likely): the local engine's one line
    world = generate_demo(DemoConfig(accounts=60, days=60, start=START, seed=2))
    frames = {name: getattr(world, name) for name in ("accounts", "events", "conversions", "users")}
    users = frames["users"]
    users.loc[users.index[-1], "user_id"] = users["user_id"].iloc[0]
    with pytest.raises(DataError) as local_error:
        load_frames(frames)
    with pytest.raises(DataError) as spark_error:
        spark_engine.load_frames(frames)
    assert str(spark_error.value) == str(local_error.value)
    assert "user ids are in two or more accounts" in str(local_error.value)



def test_an_error_spread_over_buckets_is_counted_over_all_of_them(spark_engine, tmp_path) -> None:
    """Unreadable times in events of accounts of every bucket: the local engine's one message, with the count
    of the whole table (each bucket sees only its own rows)."""
    from demo import DemoConfig, generate_demo

    from engines.buckets import buckets_of

    world = generate_demo(DemoConfig(accounts=120, days=60, start=START, seed=5))
    events = world.events.assign(timestamp=world.events["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    bad = events.groupby("account_id").head(1).index[:40]  # one row of each of 40 accounts
    events.loc[bad, "timestamp"] = "yesterday"
    n = spark_engine.settings.partitions
    assert len(set(buckets_of(pa.array(events.loc[bad, "account_id"]), n))) == n > 1
    world.accounts.to_parquet(tmp_path / "accounts.parquet", index=False)
    world.conversions.to_parquet(tmp_path / "conversions.parquet", index=False)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    data = DataConfig(dir=str(tmp_path))
    with pytest.raises(DataError) as local_error:
        LocalEngine().load_tables(data)
    with pytest.raises(DataError) as spark_error:
        spark_engine.load_tables(data)
    assert "40 values cannot be read as ISO-8601 timestamps, e.g. 'yesterday'" in str(local_error.value)
    assert str(spark_error.value) == str(local_error.value) and spark_error.value.exit_code == 3
def _with_history(tmp_path) -> DataConfig:
    """A Parquet folder with an attribute history: the demo world's (plan, seat limit, headcount, whose today's
    values accounts shows) plus an attribute only the history has, in text and numbers."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=220, days=140, start=START, seed=5))
    rng = np.random.default_rng(5)
    ids = world.accounts["account_id"].sample(120, random_state=5).to_numpy()
    extra = pd.DataFrame({"account_id": ids, "attribute": "funding_round",
                          "value": rng.choice(["seed", "series_a", "series_b"], len(ids)),
                          "valid_from": pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 140 * 86400, len(ids)),
                                                                                 unit="s")})
    history = pd.concat([world.account_attributes, extra.astype({"valid_from": "datetime64[us]"})], ignore_index=True)
    for name in ("accounts", "events", "conversions", "touches"):
        getattr(world, name).to_parquet(tmp_path / f"{name}.parquet", index=False)
    history.sample(frac=1.0, random_state=1).to_parquet(tmp_path / "account_attributes.parquet", index=False)
    return DataConfig(dir=str(tmp_path))


def test_an_attribute_history_matches_cell_for_cell(spark_engine, tmp_path) -> None:
    data = _with_history(tmp_path)
    tables, _ = LocalEngine().load_tables(data)
    assert "funding_round" in tables.fit_columns and len(tables.attributes) > 220
    _check(spark_engine, data, _mondays("2024-04-22", 6), inside_a_day=pd.Timestamp("2024-03-13 15:30"))
    (tmp_path / "bad").mkdir()  # a folder of its own: Spark keeps the files it listed under a path
    data = _with_history(tmp_path / "bad")
    history = pd.read_parquet(tmp_path / "bad" / "account_attributes.parquet")
    history.loc[history.index[:2], "account_id"] = "nobody"
    history.to_parquet(tmp_path / "bad" / "account_attributes.parquet", index=False)
    with pytest.raises(DataError) as local_error:
        LocalEngine().load_tables(data)
    with pytest.raises(Exception) as spark_error:
        spark_engine.load_tables(data)
    assert str(spark_error.value) == str(local_error.value)
    assert "table 'account_attributes', column 'account_id'" in str(local_error.value)


DEMO = ["data.demo.accounts=150", "data.demo.days=90", "data.demo.start=2024-01-01", "progress=false",
        "as_of=2024-03-25"]


def _compose(overrides: list[str]):
    from app.preflight import compose_config

    return compose_config("features", overrides, hydra_config=True)


def test_features_on_spark_writes_the_local_file(spark, tmp_path) -> None:
    from hydra.core.hydra_config import HydraConfig

    from features.__main__ import main

    outputs = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"{engine}.parquet"
        cfg = _compose([*DEMO, f"engine={engine}", "engine.partitions=3" if engine == "spark" else "engine.name=local",
                        f"output={out}", f"hydra.run.dir={tmp_path / engine}"])
        HydraConfig.instance().set_config(cfg)
        main(cfg)
        outputs[engine] = pd.read_parquet(out)
    pd.testing.assert_frame_equal(outputs["spark"], outputs["local"])
    assert len(outputs["local"]) > 50


def _partition(bucket) -> int:
    from pyspark import TaskContext

    return TaskContext.get().partitionId()


def test_a_pass_starts_with_the_biggest_buckets_and_answers_in_bucket_order(spark_engine) -> None:
    data = DataConfig(demo={"accounts": 60, "days": 40, "start": START})
    tables, _ = spark_engine.load_tables(data)
    state = tables.state
    partitions = spark_engine.map_buckets(tables, _partition)  # the results in bucket order, tasks biggest first
    assert len(partitions) == len(state.filled) > 1
    assert sorted(state.filled, key=lambda b: partitions[state.filled.index(b)]) == \
        sorted(state.filled, key=lambda b: -state.bucket_events[b])
