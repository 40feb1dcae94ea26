"""The demo world's quirk settings and variants (demo.config): each real-data quirk is really there, and the
defaults leave the world as it was.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from demo import VARIANTS, DemoConfig, DemoWorld, generate_demo
from demo.frames import SINGLE_EVENT
from features.data.load import load_frames

SMALL = DemoConfig(accounts=400, days=120, seed=5)
TABLES = ("accounts", "events", "conversions", "touches")


def _world(**quirks) -> DemoWorld:
    return generate_demo(replace(SMALL, **quirks))


def _frames(world: DemoWorld) -> dict[str, pd.DataFrame | None]:
    """The tables as features.data.load.open_source hands the demo world to the loader."""
    return {name: getattr(world, name) for name in TABLES}


def _same_tables(a: DemoWorld, b: DemoWorld) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


@pytest.fixture(scope="module")
def plain() -> DemoWorld:
    return generate_demo(SMALL)


def test_defaults_leave_the_world_unchanged(plain: DemoWorld) -> None:
    explicit = replace(SMALL, labels_after_days=None, stale_share=0.0, fit_columns=True, single_event=False,
                       day_resolution=False, id_column=False, touches=True, user_ids=True)
    again = generate_demo(explicit)
    _same_tables(plain, again)
    snaps = plain.weekly_snapshots()
    pd.testing.assert_frame_equal(plain.true_probability(snaps), again.true_probability(snaps))
    assert plain.stale_accounts.empty


def test_late_labels_hide_early_conversions_but_not_the_truth(plain: DemoWorld) -> None:
    late = _world(labels_after_days=80)
    cutoff = pd.Timestamp(SMALL.start) + pd.Timedelta(days=80)
    assert (late.conversions["converted_at"] >= cutoff).all()
    real = plain.conversions
    assert (real["converted_at"] < cutoff).sum() >= 3  # they happened: the tables just do not show them
    pd.testing.assert_frame_equal(late.conversions, real[real["converted_at"] >= cutoff].reset_index(drop=True))
    # unrecorded converters go on using the product, and the truth is about the real conversions
    pd.testing.assert_frame_equal(late.events, plain.events)
    snaps = plain.weekly_snapshots()
    pd.testing.assert_frame_equal(late.true_probability(snaps), plain.true_probability(snaps))


def test_stale_pools_act_briefly_and_never_convert() -> None:
    world = _world(stale_share=0.5)
    acc, stale = world.accounts, world.stale_accounts
    assert len(acc) == 600 and len(stale) == 200 and acc["account_id"].is_unique
    assert acc["account_id"].str.fullmatch(r"acc_\d{6}").all() and acc["account_id"].is_monotonic_increasing
    assert acc["created_at"].is_monotonic_increasing  # ids follow signup order in both pools alike
    is_stale = acc["account_id"].isin(stale)
    assert is_stale.iloc[: 300].any() and is_stale.iloc[300:].any()  # they sign up over the whole period
    ev = world.events[world.events["account_id"].isin(stale)]
    created = ev["account_id"].map(acc.set_index("account_id")["created_at"])
    assert ev["account_id"].nunique() == len(stale)
    assert ev.groupby("account_id").size().between(1, 5).all()
    assert ((ev["timestamp"] >= created) & (ev["timestamp"] < created + pd.Timedelta(days=7))).all()
    assert not world.conversions["account_id"].isin(stale).any()
    assert not world.touches["account_id"].isin(stale).any()
    truth = world.true_probability(world.weekly_snapshots())
    stale_truth = truth["account_id"].isin(stale)
    assert stale_truth.any() and (truth.loc[stale_truth, "p_true"] == 0).all()
    assert (truth.loc[~stale_truth, "p_true"] > 0).all()


def test_no_fit_columns(plain: DemoWorld) -> None:
    world = _world(fit_columns=False)
    assert list(world.accounts.columns) == ["account_id", "created_at"]
    pd.testing.assert_frame_equal(world.accounts, plain.accounts[["account_id", "created_at"]])
    pd.testing.assert_frame_equal(world.events, plain.events)


def test_single_event_name_and_no_meaningful_quantity(plain: DemoWorld) -> None:
    ev = _world(single_event=True).events
    assert set(ev["event"]) == {SINGLE_EVENT} and (ev["quantity"] == 1.0).all()
    assert list(ev.columns) == list(plain.events.columns) and len(ev) == len(plain.events)


def test_day_resolution_floors_every_timestamp() -> None:
    world = _world(day_resolution=True)
    stamps = {"accounts": "created_at", "events": "timestamp", "conversions": "converted_at", "touches": "timestamp"}
    for name, column in stamps.items():
        values = getattr(world, name)[column]
        assert len(values) and (values == values.dt.normalize()).all(), name
    created = world.accounts.set_index("account_id")["created_at"]
    assert (world.events["timestamp"] >= world.events["account_id"].map(created)).all()
    assert (world.conversions["converted_at"] >= world.conversions["account_id"].map(created)).all()
    _, report = load_frames(_frames(world))
    assert report.set_aside["events: before the account existed"] == 0


def test_day_resolution_floors_to_midnight_utc_whatever_the_start_time() -> None:
    world = generate_demo(DemoConfig(accounts=100, days=30, start="2024-03-05 13:30", day_resolution=True))
    assert (world.events["timestamp"] == world.events["timestamp"].dt.normalize()).all()
    assert (world.accounts["created_at"] == world.accounts["created_at"].dt.normalize()).all()


def test_id_column_holds_one_hex_id_per_account() -> None:
    acc = _world(id_column=True).accounts
    assert list(acc.columns[:3]) == ["account_id", "created_at", "external_id"]
    assert pd.api.types.is_string_dtype(acc["external_id"])
    assert acc["external_id"].str.fullmatch(r"[0-9a-f]{16}").all() and acc["external_id"].is_unique


def test_no_touches(tmp_path) -> None:
    world = _world(touches=False)
    assert world.touches is None
    path = world.write(tmp_path, weekly_truth=False)
    assert {p.name for p in path.iterdir()} == {"accounts.parquet", "events.parquet", "conversions.parquet",
                                                "users.parquet", "account_attributes.parquet"}


def test_no_users(tmp_path) -> None:
    world = _world(users=False)
    assert world.users is None
    path = world.write(tmp_path, weekly_truth=False)
    assert "users.parquet" not in {p.name for p in path.iterdir()}


def test_no_user_ids(plain: DemoWorld) -> None:
    ev = _world(user_ids=False).events
    assert "user_id" not in ev.columns
    pd.testing.assert_frame_equal(ev, plain.events.drop(columns="user_id"))


def test_variant_names_known_variants_for_an_unknown_name() -> None:
    assert DemoConfig.variant("late_labels", accounts=50) == DemoConfig(accounts=50, days=365, labels_after_days=150)
    with pytest.raises(ValueError, match="known variants: .*bare"):
        DemoConfig.variant("no_such_quirk")


def test_required_variants_exist() -> None:
    assert {"short_log", "late_labels", "stale_pools", "no_fit", "single_event", "day_resolution", "id_column",
            "bare"} <= set(VARIANTS)
    bare = generate_demo(DemoConfig.variant("bare", accounts=100, days=60))
    assert list(bare.accounts.columns) == ["account_id", "created_at"] and bare.touches is None
    assert list(bare.events.columns) == ["account_id", "event", "timestamp", "quantity"]
    assert bare.events["event"].nunique() == 1


def test_rejects_negative_quirk_settings() -> None:
    for bad in ({"stale_share": -0.1}, {"labels_after_days": -1}):
        with pytest.raises(ValueError, match="DemoConfig needs"):
            generate_demo(DemoConfig(accounts=10, days=10, **bad))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_generates_and_loads(name: str) -> None:
    world = generate_demo(DemoConfig.variant(name, accounts=300))
    for key, value in VARIANTS[name].items():
        assert getattr(world.config, key) == value
    tables, report = load_frames(_frames(world))
    assert tables.n_accounts == len(world.accounts)
    assert report.rows_read["events"] == len(world.events)
    assert (tables.touches is None) == (world.touches is None)
    assert np.isin(world.conversions["account_id"], world.accounts["account_id"]).all()
