"""The demo world: deterministic, shaped like the contract's input tables, with an exact truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demo import DemoConfig, DemoWorld, generate_demo
from demo.__main__ import main
from demo.activity import EVENT_TYPES, TOUCH_TYPES

SMALL = DemoConfig(accounts=300, days=150, seed=3)
FIT = {
    "industry": {"software", "fintech", "ecommerce", "healthcare", "education", "media", "manufacturing",
                 "nonprofit", "agency"},
    "country": {"US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "NL", "other"},
    "funding_stage": {"bootstrapped", "seed", "series_a", "series_b_plus", "public"},
    "signup_role": {"engineer", "product_manager", "founder", "marketer", "operations", "student"},
    "use_case": {"project_management", "crm", "support", "automation", "analytics"},
    "plan": {"free", "trial", "paid"},  # today's plan: a trial ends after 14 days, a conversion is paid
}
TABLES = ("accounts", "events", "conversions", "touches", "users", "account_attributes")


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return generate_demo(SMALL)


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    """p_true and the realised 30-day label on weekly snapshots after the first 60 days."""
    w = generate_demo(DemoConfig(accounts=1500, days=200, seed=11))
    start = pd.Timestamp(w.config.start)
    snaps = [s for s in w.weekly_snapshots() if s >= start + pd.Timedelta(days=60)]
    truth = w.true_probability(snaps)
    converted_at = truth["account_id"].map(w.conversions.set_index("account_id")["converted_at"])
    truth["label"] = (converted_at >= truth["as_of"]) & (converted_at < truth["as_of"] + pd.Timedelta(days=30))
    return truth


def _period(w: DemoWorld) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(w.config.start)
    return start, start + pd.Timedelta(days=w.config.days)


def test_same_config_gives_the_same_world(world: DemoWorld) -> None:
    again = generate_demo(SMALL)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(world, name), getattr(again, name))
    snaps = world.weekly_snapshots()
    pd.testing.assert_frame_equal(world.true_probability(snaps), again.true_probability(snaps))


def test_another_seed_gives_another_world(world: DemoWorld) -> None:
    other = generate_demo(DemoConfig(accounts=300, days=150, seed=4))
    assert not world.events.equals(other.events)
    assert not world.accounts.equals(other.accounts)


def test_accounts_schema(world: DemoWorld) -> None:
    acc = world.accounts
    assert list(acc.columns) == ["account_id", "created_at", "industry", "employees", "country", "funding_stage",
                                 "signup_role", "use_case", "seat_limit", "plan"]
    assert len(acc) == SMALL.accounts and acc["account_id"].is_unique and acc["account_id"].is_monotonic_increasing
    assert acc["account_id"].str.fullmatch(r"acc_\d{6}").all()
    assert acc["created_at"].dtype == "datetime64[us]"
    start, end = _period(world)
    assert acc["created_at"].between(start, end, inclusive="left").all()
    assert (acc["created_at"] < start + pd.Timedelta(days=7)).any()  # some early history
    for column, allowed in FIT.items():
        assert pd.api.types.is_string_dtype(acc[column]) and set(acc[column]) <= allowed, column
    assert acc["employees"].dtype == np.int64 and (acc["employees"] >= 1).all()
    assert acc["seat_limit"].dtype == np.int64 and set(acc["seat_limit"]) <= {5, 10, 20, 50}
    assert (acc.loc[acc["plan"] == "paid", "seat_limit"] == 50).all()
    assert (acc.loc[acc["plan"] == "trial", "seat_limit"] == 20).all()
    assert acc.index.equals(pd.RangeIndex(len(acc)))


def test_events_schema(world: DemoWorld) -> None:
    ev = world.events
    assert list(ev.columns) == ["account_id", "event", "timestamp", "user_id", "quantity"]
    assert ev["timestamp"].dtype == "datetime64[us]" and ev["quantity"].dtype == np.float64
    assert all(pd.api.types.is_string_dtype(ev[c]) for c in ("account_id", "event", "user_id"))
    assert set(ev["event"]) <= set(EVENT_TYPES) and ev["event"].nunique() >= 10
    assert ev.index.equals(pd.RangeIndex(len(ev)))
    keys = ev[["timestamp", "account_id"]]
    assert keys.equals(keys.sort_values(["timestamp", "account_id"], ignore_index=True))
    # the scale parameter sets the mean number of events per account
    assert len(ev) == pytest.approx(SMALL.accounts * SMALL.events_per_account, rel=0.1)
    api = ev["event"] == "api_call"
    assert (ev.loc[~api, "quantity"] == 1.0).all()
    assert ev.loc[api, "quantity"].between(1, 500).all() and ev.loc[api, "quantity"].nunique() > 10


def test_events_belong_to_existing_accounts_and_users(world: DemoWorld) -> None:
    ev = world.events.merge(world.accounts[["account_id", "created_at"]], on="account_id", how="left")
    assert ev["created_at"].notna().all()
    assert (ev["timestamp"] >= ev["created_at"]).all()
    assert (ev["timestamp"] < _period(world)[1]).all()
    assert (ev["user_id"].str.rsplit("_u", n=1).str[0] == ev["account_id"]).all()


def test_teammates_exist_only_after_they_were_invited(world: DemoWorld) -> None:
    ev = world.events
    invites = ev[ev["event"] == "teammate_invited"].copy()
    invites["k"] = invites.groupby("account_id").cumcount() + 1  # the k-th invite brings user u{k}
    first_seen = ev.groupby("user_id", as_index=False)["timestamp"].min()
    first_seen["account_id"] = first_seen["user_id"].str.rsplit("_u", n=1).str[0]
    first_seen["k"] = first_seen["user_id"].str.rsplit("_u", n=1).str[1].astype(int)
    teammates = first_seen[first_seen["k"] > 0].merge(invites[["account_id", "k", "timestamp"]],
                                                      on=["account_id", "k"], how="left", suffixes=("", "_invited"))
    assert len(teammates) > 20
    assert teammates["timestamp_invited"].notna().all()
    assert (teammates["timestamp"] > teammates["timestamp_invited"]).all()


def test_conversions_schema(world: DemoWorld) -> None:
    conv = world.conversions
    assert list(conv.columns) == ["account_id", "converted_at", "amount"]
    assert conv["converted_at"].dtype == "datetime64[us]" and conv["amount"].dtype == np.float64
    assert conv["account_id"].is_unique and len(conv) > 5
    joined = conv.merge(world.accounts, on="account_id", how="left")
    assert (joined["converted_at"] > joined["created_at"]).all()
    assert (joined["converted_at"] < _period(world)[1]).all()
    assert (conv["amount"] > 0).all()


def test_touches_schema(world: DemoWorld) -> None:
    to = world.touches
    assert list(to.columns) == ["account_id", "touch", "timestamp"]
    assert to["timestamp"].dtype == "datetime64[us]" and set(to["touch"]) <= set(TOUCH_TYPES)
    assert set(to["account_id"]) <= set(world.accounts["account_id"])
    keys = to[["timestamp", "account_id"]]
    assert keys.equals(keys.sort_values(["timestamp", "account_id"], ignore_index=True))
    created = to["account_id"].map(world.accounts.set_index("account_id")["created_at"])
    assert (to["timestamp"] < created).any()  # marketing history before the signup is legitimate
    assert (to["timestamp"] >= created - pd.Timedelta(days=31)).all()


@pytest.mark.parametrize("as_of", ["2024-03-04", "2024-04-17 13:45:10.5"])
def test_true_probability_covers_exactly_the_eligible_accounts(world: DemoWorld, as_of: str) -> None:
    t = pd.Timestamp(as_of)
    truth = world.true_probability([t])
    assert list(truth.columns) == ["account_id", "as_of", "p_true"]
    assert truth["as_of"].dtype == "datetime64[us]" and (truth["as_of"] == t).all()
    converted = world.accounts["account_id"].map(world.conversions.set_index("account_id")["converted_at"])
    eligible = (world.accounts["created_at"] < t) & ~(converted < t)
    assert sorted(truth["account_id"]) == sorted(world.accounts.loc[eligible, "account_id"])
    assert truth["p_true"].between(0.0, 1.0).all() and truth["p_true"].gt(0).all()


def test_true_probability_accepts_aware_and_empty_input(world: DemoWorld) -> None:
    naive = world.true_probability([pd.Timestamp("2024-03-04")])
    aware = world.true_probability(pd.DatetimeIndex(["2024-03-04 01:00"], tz="Europe/Paris"))
    pd.testing.assert_frame_equal(naive, aware)
    empty = world.true_probability([])
    assert list(empty.columns) == ["account_id", "as_of", "p_true"] and empty.empty


def test_true_probability_grows_with_the_horizon(world: DemoWorld) -> None:
    t = [pd.Timestamp("2024-03-04")]
    short, long = world.true_probability(t, horizon_days=7), world.true_probability(t, horizon_days=30)
    assert (long["p_true"].to_numpy() >= short["p_true"].to_numpy()).all()


def test_converters_had_a_higher_true_probability(labelled: pd.DataFrame) -> None:
    positives, negatives = labelled.loc[labelled["label"], "p_true"], labelled.loc[~labelled["label"], "p_true"]
    assert len(positives) > 50
    assert positives.mean() > 3 * negatives.mean()


def test_true_probability_is_calibrated(labelled: pd.DataFrame) -> None:
    # the truth is exact, so expected and realised conversions agree up to sampling noise
    assert labelled["label"].sum() == pytest.approx(labelled["p_true"].sum(), rel=0.25)
    assert 0.01 < labelled["label"].mean() < 0.1


def test_write_round_trips_through_parquet(world: DemoWorld, tmp_path) -> None:
    path = world.write(tmp_path / "demo")
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(path / f"{name}.parquet"), getattr(world, name))
    truth = pd.read_parquet(path / "truth.parquet")
    pd.testing.assert_frame_equal(truth, world.true_probability(world.weekly_snapshots()))
    assert (truth["as_of"].dt.day_of_week == 0).all() and (truth["as_of"] == truth["as_of"].dt.normalize()).all()
    assert (truth["as_of"] + pd.Timedelta(days=30) <= _period(world)[1]).all()
    assert not (world.write(tmp_path / "bare", weekly_truth=False) / "truth.parquet").exists()


def test_command_line_writes_the_tables(tmp_path, capsys) -> None:
    main(["--out", str(tmp_path), "--accounts", "40", "--days", "60", "--events-per-account", "20", "--seed", "1"])
    assert {p.name for p in tmp_path.iterdir()} == {f"{name}.parquet" for name in (*TABLES, "truth")}
    assert "events" in capsys.readouterr().out


def test_rejects_an_empty_world() -> None:
    with pytest.raises(ValueError, match="accounts"):
        generate_demo(DemoConfig(accounts=0))
