"""The local engine within a memory budget (engines.local_buckets): a source bigger than ``engine.memory_gb`` is
processed in account buckets, and everything equals the in-memory path cell for cell -- load report, accounts,
specs, feature and training tables, the training sample, serving's frames, bad input's one-line errors (counted
over all buckets) -- on the demo world, its quirks, and a small hand-made Parquet folder split into 16 buckets.
"""
from __future__ import annotations

import gc
import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engines.local import LocalEngine
from engines.local_buckets import BucketedTables
from engines.settings import EngineConfig
from features.config import DataConfig, FeatureConfig
from features.errors import DataError

START = "2024-01-01"
TINY = 1e-6  # GiB: no source fits, so every load goes through the buckets
WHOLE = LocalEngine(EngineConfig())


def _bucketed(partitions: int | None = None) -> LocalEngine:
    return LocalEngine(EngineConfig(memory_gb=TINY, partitions=partitions))


def _mondays(end: str, n: int) -> list[pd.Timestamp]:
    return [pd.Timestamp(end) - pd.Timedelta(weeks=i) for i in range(n)][::-1]


def _same(data: DataConfig, engine: LocalEngine, snapshots: list[pd.Timestamp], inside_a_day=None) -> BucketedTables:
    (bt, br), (wt, wr) = engine.load_tables(data), WHOLE.load_tables(data)
    assert isinstance(bt, BucketedTables) and not isinstance(wt, BucketedTables)
    assert (br.source, br.rows_read, br.set_aside, br.notes) == (wr.source, wr.rows_read, wr.set_aside, wr.notes)
    pd.testing.assert_frame_equal(bt.accounts, wt.accounts)
    pd.testing.assert_frame_equal(bt.conversions, wt.conversions)
    assert (bt.created_us == wt.created_us).all() and (bt.converted_us == wt.converted_us).all()
    assert bt.data_end_us == wt.data_end_us
    config = FeatureConfig().for_source(data)
    for t in (snapshots[0], snapshots[-1]):
        assert engine.plan_features(bt, t, config) == WHOLE.plan_features(wt, t, config)
    spec = WHOLE.plan_features(wt, snapshots[-1], config)
    pd.testing.assert_frame_equal(engine.build_features(bt, snapshots[-1:], spec),
                                  WHOLE.build_features(wt, snapshots[-1:], spec))
    pd.testing.assert_frame_equal(engine.build_training_table(bt, snapshots, spec, 30),
                                  WHOLE.build_training_table(wt, snapshots, spec, 30))
    if inside_a_day is not None:  # not a midnight: planned from counts made bucket by bucket for that instant
        spec = engine.plan_features(bt, inside_a_day, config)
        assert spec == WHOLE.plan_features(wt, inside_a_day, config)
        pd.testing.assert_frame_equal(engine.build_features(bt, [inside_a_day], spec),
                                      WHOLE.build_features(wt, [inside_a_day], spec))
    return bt


@pytest.mark.parametrize("quirks", [{}, {"day_resolution": True, "id_column": True, "user_ids": False,
                                        "touches": False, "single_event": True, "fit_columns": False}],
                         ids=["demo", "quirks"])
def test_demo_worlds_in_buckets_match_the_whole_load(quirks) -> None:
    data = DataConfig(demo={"accounts": 250, "days": 150, "start": START, "seed": 3, "users": False,
                            "attribute_history": False, **quirks})
    tables = _same(data, _bucketed(), _mondays("2024-05-20", 8), inside_a_day=pd.Timestamp("2024-03-13 15:30"))
    assert tables.state.buckets == 2


def test_users_and_the_attribute_history_in_buckets_match_the_whole_load() -> None:
    data = DataConfig(demo={"accounts": 250, "days": 150, "start": START, "seed": 3})
    tables = _same(data, _bucketed(5), _mondays("2024-05-20", 6))
    spec = WHOLE.plan_features(WHOLE.load_tables(data)[0], pd.Timestamp("2024-05-20"), FeatureConfig().for_source(data))
    assert spec.has_users and tables.state.buckets == 5  # people columns were built from each bucket's users


def _world_folder(tmp_path: Path, **change) -> DataConfig:
    """The demo world (users, attribute history) as a Parquet folder, ``change`` applied to its tables."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=150, days=90, start=START, seed=5))
    for name in ("accounts", "events", "conversions", "touches", "users", "account_attributes"):
        frame = getattr(world, name)
        change.get(name, lambda f: f)(frame.copy()).to_parquet(tmp_path / f"{name}.parquet", index=False)
    return DataConfig(dir=str(tmp_path))


def _two_accounts(users: pd.DataFrame) -> pd.DataFrame:
    """Users whose ids also belong to users of other accounts (accounts in other buckets, most of them)."""
    moved = users.groupby("account_id").head(1).head(12).copy()
    moved["account_id"] = moved["account_id"].to_numpy()[::-1]
    return pd.concat([users, moved[moved["account_id"] != users.groupby("account_id").head(1).head(12)[
        "account_id"].to_numpy()]], ignore_index=True)


def _with_unknown_accounts(events: pd.DataFrame) -> pd.DataFrame:
    """Events plus a few of an account missing from accounts (set aside; an error under ``data.strict``)."""
    return pd.concat([events, events.head(5).assign(account_id="nobody")], ignore_index=True)


@pytest.mark.parametrize("change", [
    {"users": _two_accounts},
    {"users": lambda u: u.assign(account_id=np.where(np.arange(len(u)) % 9 == 0, "nobody", u["account_id"]))},
    {"users": lambda u: u.iloc[:0]},
    {"account_attributes": lambda h: h.assign(attribute=h["attribute"].where(np.arange(len(h)) % 7 > 0, None))},
    {"users": lambda u: u.assign(account_id=np.where(np.arange(len(u)) % 9 == 0, "nobody", u["account_id"])),
     "events": lambda e: e.assign(account_id=e["account_id"].where(np.arange(len(e)) % 50 > 0, None))},
    {"users": _two_accounts, "events": _with_unknown_accounts, "strict": True},
    {"users": lambda u: u.iloc[:0], "events": _with_unknown_accounts, "strict": True},
], ids=["user-in-two-accounts", "users-of-unknown-accounts", "no-users", "null-attribute-names",
        "users-before-events", "user-in-two-accounts-before-strict", "no-users-before-strict"])
def test_bad_users_and_history_give_the_whole_loads_error(tmp_path, change) -> None:
    change = dict(change)
    strict = change.pop("strict", False)
    data = replace(_world_folder(tmp_path, **change), strict=strict)
    with pytest.raises(DataError) as whole:
        WHOLE.load_tables(data)
    with pytest.raises(DataError) as bucketed:
        _bucketed(6).load_tables(data)
    assert str(bucketed.value) == str(whole.value)
    assert whole.value.table in ("users", "account_attributes")


def _folder(tmp_path: Path) -> DataConfig:
    """A Parquet folder in the user's own column names, events in parts, with rows to set aside: exact
    duplicates, unknown accounts, events before their account existed, repeat conversions."""
    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=120, days=100, start=START, seed=11))
    accounts = world.accounts.rename(columns={"account_id": "workspace"})
    events = world.events.rename(columns={"account_id": "workspace", "timestamp": "ts"})
    events["ts"] = events["ts"].astype("datetime64[ms]").astype("int64")  # epoch milliseconds
    early = events.sample(10, random_state=3)
    early["ts"] = early["ts"] - 400 * 86_400_000
    events = pd.concat([events, events.sample(40, random_state=1), events.sample(15, random_state=2).assign(
        workspace="ghost"), early], ignore_index=True).sample(frac=1.0, random_state=4)
    conversions = world.conversions.rename(columns={"account_id": "workspace"})
    repeat = conversions.head(3).assign(converted_at=lambda f: f["converted_at"] + pd.Timedelta(days=2))
    accounts.to_parquet(tmp_path / "accounts.parquet", index=False)
    pd.concat([conversions, repeat], ignore_index=True).to_parquet(tmp_path / "conversions.parquet", index=False)
    world.touches.rename(columns={"account_id": "workspace"}).to_parquet(tmp_path / "touches.parquet", index=False)
    (tmp_path / "events").mkdir()
    third = len(events) // 3
    for i, part in enumerate((events.iloc[:third], events.iloc[third:2 * third], events.iloc[2 * third:])):
        part.to_parquet(tmp_path / "events" / f"part-{i}.parquet", index=False)
    columns = {t: {"account_id": "workspace"} for t in ("accounts", "events", "conversions", "touches")}
    columns["events"].update(timestamp="ts", timestamp_unit="ms")
    return DataConfig.from_mapping({"dir": str(tmp_path), "columns": columns})


def test_a_parquet_folder_in_sixteen_buckets_matches_and_its_spill_folder_goes_with_it(tmp_path) -> None:
    data = _folder(tmp_path)
    tables = _same(data, _bucketed(16), _mondays("2024-04-08", 5))
    _, report = WHOLE.load_tables(data)
    assert report.set_aside["events: exact duplicates"] >= 40 and report.set_aside["events: unknown account"] == 15
    folder = tables.state.folder
    assert tables.state.buckets == 16 and folder.is_dir()
    del tables
    gc.collect()
    assert not folder.exists()


@pytest.mark.parametrize("workers", [1, 3])
def test_buckets_worked_on_one_or_several_at_once_give_the_same_tables(tmp_path, monkeypatch, workers) -> None:
    from engines import budget

    monkeypatch.setattr(budget, "workers", lambda: workers)
    tables = _same(_folder(tmp_path), _bucketed(7), _mondays("2024-04-08", 4))
    assert tables.state.buckets == 7


def test_the_training_design_and_its_sample_keep_the_same_rows(tmp_path) -> None:
    from train.backtest import negative_sample
    from train.design import build_design

    data = _folder(tmp_path)
    (bt, _), (wt, _) = _bucketed(5).load_tables(data), WHOLE.load_tables(data)
    spec = WHOLE.plan_features(wt, pd.Timestamp("2024-04-08"), FeatureConfig().for_source(data))
    settings = type("S", (), {"label": type("L", (), {"horizon_days": 30})(), "progress": False})()
    times = _mondays("2024-04-08", 6)
    (bf, bd), (wf, wd) = build_design(bt, times, spec, settings), build_design(wt, times, spec, settings)
    pd.testing.assert_frame_equal(bf, wf)
    rows = np.ones(len(wd.y), dtype=bool)
    assert (negative_sample(rows, bd.y, 0.3)[0] == negative_sample(rows, wd.y, 0.3)[0]).all()


_TASK_SPEC: list = []  # the spec serving's task carries (planned on the whole tables)


def _task(tables, progress):
    """A serving-like task: features at one as-of, and a frame of its own per account (the account's events)."""
    from features.build import build_features

    frame = build_features(tables, [pd.Timestamp("2024-04-08")], _TASK_SPEC[0])
    events = np.bincount(tables.events.account, minlength=tables.n_accounts)
    own = pd.DataFrame({"as_of": pd.Timestamp("2024-04-08"), "account_id": tables.accounts["account_id"],
                        "events": events})
    return frame, own


def test_serving_maps_accounts_bucket_by_bucket_as_on_the_whole_tables(tmp_path) -> None:
    data = _folder(tmp_path)
    (bt, _), (wt, _) = _bucketed(7).load_tables(data), WHOLE.load_tables(data)
    _TASK_SPEC[:] = [WHOLE.plan_features(wt, pd.Timestamp("2024-04-08"), FeatureConfig().for_source(data))]
    for got, want in zip(_bucketed(7).map_accounts(bt, _task), WHOLE.map_accounts(wt, _task)):
        pd.testing.assert_frame_equal(got, want)


def test_bad_input_gives_the_whole_loads_error_counted_over_every_bucket(tmp_path) -> None:
    data = _folder(tmp_path)
    for i in range(3):  # null keys in every part: they land in several buckets
        path = tmp_path / "events" / f"part-{i}.parquet"
        part = pd.read_parquet(path)
        part.loc[part.index[: 2 + i], "workspace"] = None
        part.loc[part.index[10 + i: 12 + i], "ts"] = None
        part.to_parquet(path, index=False)
    with pytest.raises(DataError) as whole:
        WHOLE.load_tables(data)
    with pytest.raises(DataError) as bucketed:
        _bucketed(16).load_tables(data)
    assert str(bucketed.value) == str(whole.value) and "9 rows have a null account id" in str(whole.value)
    assert bucketed.value.exit_code == whole.value.exit_code == 3


def test_strict_mode_counts_set_aside_rows_over_every_bucket(tmp_path) -> None:
    data = replace(_folder(tmp_path), strict=True)
    with pytest.raises(DataError) as whole:
        WHOLE.load_tables(data)
    with pytest.raises(DataError) as bucketed:
        _bucketed(16).load_tables(data)
    assert str(bucketed.value) == str(whole.value)


_spec = importlib.util.spec_from_file_location(
    "pit_worlds", Path(__file__).resolve().parents[1] / "features" / "test_point_in_time.py")
pit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pit)  # the local test's random worlds and future perturbations


def _pit_features(world: dict, folder: Path):
    folder.mkdir()
    for name, frame in world.items():
        if frame is not None:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    tables, _ = _bucketed(4).load_tables(DataConfig(dir=str(folder)), instants=[pit.T])
    spec = _bucketed(4).plan_features(tables, pit.T, pit.CONFIG)
    return spec, _bucketed(4).build_features(tables, [pit.T], spec)


@pytest.mark.parametrize("seed, n_accounts, n_events", [(0, 3, 1), (7, 40, 600)])
def test_rows_at_or_after_t_never_change_bucketed_features_at_t(tmp_path, seed, n_accounts, n_events) -> None:
    rng = np.random.default_rng(seed)
    world = pit._random_world(rng, n_accounts, n_events)
    spec, before = _pit_features(world, tmp_path / "before")
    spec_after, after = _pit_features(pit._perturb_future(world, rng), tmp_path / "after")
    assert spec_after == spec
    pd.testing.assert_frame_equal(before, after)


def test_a_bucketed_load_has_glibc_map_blocks_of_a_mib_apart(tmp_path, monkeypatch) -> None:
    """Blocks of a bucket's size must be given back whole when freed, not carved from the threads' heaps (where
    they stayed resident: the process grew with every bucket)."""
    from engines import local_buckets

    calls = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(local_buckets.ctypes, "CDLL", lambda name: Libc())
    data = _folder(tmp_path)
    _bucketed(2).load_tables(data)
    assert (-3, 1 << 20) in calls  # M_MMAP_THRESHOLD: 1 MiB
    calls.clear()
    WHOLE.load_tables(data)
    assert calls == []  # the in-memory path leaves malloc as it is


def test_gathering_fills_every_row_in_order_and_falls_back_when_types_differ(tmp_path) -> None:
    import pickle

    from engines.local_buckets import _gathered

    frames = [pd.DataFrame({"as_of": [1, 2, 3], "account_id": ["b", "d", "f"], "x": [0.5, 1.5, 2.5],
                            "t": pd.array(["p", None, "r"], dtype="string")}),
              pd.DataFrame({"as_of": [1, 3], "account_id": ["a", "c"], "x": [9.0, 8.0],
                            "t": pd.array(["s", "u"], dtype="string")})]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"{i}.pkl")
        paths[-1].write_bytes(pickle.dumps(frame))
    whole = pd.concat(frames, ignore_index=True)
    order = np.lexsort((whole["account_id"].to_numpy(), whole["as_of"].to_numpy()))
    want = whole.take(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(_gathered(paths, [3, 2], order), want)
    paths[1].write_bytes(pickle.dumps(frames[1].assign(x=frames[1]["x"].astype("float32"))))  # types differ
    got = _gathered(paths, [3, 2], order)
    assert got["account_id"].tolist() == want["account_id"].tolist() and got["x"].dtype == np.float64
