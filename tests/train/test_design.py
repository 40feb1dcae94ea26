"""The design of a training run (train.design): a fold's model has only the columns a plan made when the
fold began would have had."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from engines.dispatch import plan_features
from features.data.load import load_tables
from features.spec import Column, FeatureSpec
from train.design import build_design, known_at, plan_snapshots, window_of
from train.settings import settings_for


def _spec(*names: str) -> FeatureSpec:
    return FeatureSpec(windows=(30,), columns=tuple(Column(n, "count", "usage", f"{n}: {{value}}") for n in names))


def test_known_at_keeps_the_specs_columns_the_earlier_plan_also_has_in_the_specs_order():
    spec = _spec("task_count_30d", "upload_count_30d", "events_count_30d")
    earlier = _spec("events_count_30d", "task_count_30d", "invite_count_30d")  # upload first seen later
    got = known_at(spec, earlier)
    assert got.names == ["task_count_30d", "events_count_30d"]
    assert got.windows == spec.windows and got.column("task_count_30d") == spec.column("task_count_30d")
    assert spec.names == ["task_count_30d", "upload_count_30d", "events_count_30d"]  # unchanged


def test_known_at_of_the_same_plan_is_the_spec():
    spec = _spec("a_count_30d", "b_count_30d")
    assert known_at(spec, spec) == spec


@functools.lru_cache(maxsize=None)
def _demo_design():
    """A small demo world's grid, first looks and design (cached: several tests read it)."""
    from app.paths import CONF_DIR
    from tests.conftest import compose_plain

    config = compose_plain("train", ["data.demo.accounts=600", "data.demo.start=2024-01-01", "data.demo.days=200",
                                     "progress=false"])
    settings, data, _ = settings_for(config, CONF_DIR)
    tables, _ = load_tables(data)
    snapshots = plan_snapshots(tables, settings)
    spec = plan_features(tables, snapshots.times[-1], settings.features)
    frame, design = build_design(tables, snapshots.times, spec, settings, snapshots.looks)
    return tables, snapshots, frame, design


def test_first_looks_see_each_new_account_on_its_first_midnight_once_in_its_snapshots_window():
    tables, snapshots, frame, design = _demo_design()
    looked = frame["as_of"].to_numpy().astype("datetime64[us]")
    first = looked != design.snapshot
    assert first.sum() > 50
    # each account at most once in a window: its calls are counted once there
    assert not pd.DataFrame({"a": frame["account_id"], "w": design.snapshot}).duplicated().any()
    created = pd.Series(tables.created_us, index=tables.accounts["account_id"].to_numpy())
    age = looked[first].view("int64") - created.loc[frame["account_id"][first].to_numpy()].to_numpy()
    assert ((age > 0) & (age <= 86_400_000_000)).all()  # on its first midnight
    offset = (looked[first] - design.snapshot[first]) / np.timedelta64(1, "D")
    assert ((offset >= 1) & (offset <= 6)).all()  # inside the window of a weekly snapshot
    assert set(design.snapshot) <= {np.datetime64(t, "us") for t in snapshots.times}


def test_a_folds_training_rows_leave_out_the_first_looks_whose_label_is_not_known_by_the_fold():
    _, snapshots, _, design = _demo_design()
    fold = snapshots.plan.folds[0]
    kept, all_rows = design.rows(fold.train, fold.test[0]), design.rows(fold.train)
    assert (design.known[kept] <= np.datetime64(fold.test[0], "us")).all()
    assert 0 < all_rows.sum() - kept.sum() < 20  # late looks in the newest matured window, only those


def test_window_of_maps_first_looks_to_their_snapshot_and_keeps_the_rest():
    looks = {pd.Timestamp("2024-01-03"): pd.Timestamp("2024-01-01")}
    instants = np.array(["2024-01-01", "2024-01-03", "2024-01-08"], dtype="datetime64[us]")
    assert window_of(instants, looks).astype(str).tolist() == [
        "2024-01-01T00:00:00.000000", "2024-01-01T00:00:00.000000", "2024-01-08T00:00:00.000000"]
    assert (window_of(instants, {}) == instants).all()
