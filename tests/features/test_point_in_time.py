"""Point-in-time correctness: nothing at or after ``t`` changes a single feature at ``t``.

Random tables; then rows at or after ``t`` are changed, added and deleted (events, touches,
conversions, accounts created later, attribute history rows); every feature at ``t`` -- and the spec itself -- must be
identical. And a snapshot built together with later snapshots equals the snapshot built alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.plan import plan_features
from features.config import FeatureConfig
from features.data.load import load_frames

T = pd.Timestamp("2024-04-01 06:00").as_unit("us")
CONFIG = FeatureConfig(windows=(7, 30), key_events=("e1",), plan_limits={"seats": {"used": "active_users",
                                                                                    "limit": "seats"}})


def _random_world(rng: np.random.Generator, n_accounts: int, n_events: int) -> dict[str, pd.DataFrame]:
    start = T - pd.Timedelta(days=60)
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(n_accounts)],
        "created_at": start + pd.to_timedelta(rng.integers(0, 50 * 86400, n_accounts), unit="s"),
        "industry": rng.choice(["x", "y", "z"], n_accounts),
        "seats": rng.integers(1, 6, n_accounts).astype(float),
    })
    span = 100 * 86400  # events spread over [start, start + 100 days): many after T
    events = pd.DataFrame({
        "account_id": rng.choice(accounts["account_id"], n_events),
        "event": rng.choice(["e0", "e1", "e2", "e3"], n_events, p=[0.4, 0.3, 0.2, 0.1]),
        "timestamp": start + pd.to_timedelta(rng.integers(0, span, n_events), unit="s"),
        "user_id": [f"u{i}" for i in rng.integers(0, 6, n_events)],
        "quantity": rng.choice([1.0, 2.0, 5.0], n_events),
    })
    events = events.astype({"timestamp": "datetime64[us]"})
    touches = pd.DataFrame({
        "account_id": rng.choice(accounts["account_id"], n_events // 4),
        "touch": rng.choice(["mail", "webinar"], n_events // 4),
        "timestamp": (start + pd.to_timedelta(rng.integers(0, span, n_events // 4), unit="s")),
    }).astype({"timestamp": "datetime64[us]"})
    converting = rng.choice(accounts["account_id"], n_accounts // 3, replace=False)
    conversions = pd.DataFrame({
        "account_id": converting,
        "converted_at": start + pd.to_timedelta(rng.integers(0, span, len(converting)), unit="s"),
    }).astype({"converted_at": "datetime64[us]"})
    accounts["created_at"] = accounts["created_at"].astype("datetime64[us]")
    # an account must exist before it converts
    conversions = conversions.merge(accounts[["account_id", "created_at"]], on="account_id")
    conversions = conversions[conversions["converted_at"] > conversions["created_at"]].drop(columns="created_at")
    n_hist = 3 * n_accounts
    history = pd.DataFrame({  # plan (text), seats (also an accounts column: the plan limit's cap), employees
        "account_id": rng.choice(accounts["account_id"], n_hist),
        "attribute": rng.choice(["plan", "seats", "employees"], n_hist),
        "valid_from": start + pd.to_timedelta(rng.integers(-10 * 86400, span, n_hist), unit="s"),
    }).astype({"valid_from": "datetime64[us]"})
    history["value"] = np.where(history["attribute"] == "plan", rng.choice(["free", "team", "pro"], n_hist),
                                rng.integers(1, 90, n_hist).astype(str))
    history = history.drop_duplicates(["account_id", "attribute", "valid_from"])
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches,
            "account_attributes": history}


def _perturb_history(history: pd.DataFrame, accounts: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """History rows at or after T changed, deleted and added (new values, a new attribute, rows exactly at T)."""
    later = lambda n: T + pd.to_timedelta(rng.integers(0, 40 * 86400, n), unit="s")  # noqa: E731 - >= T
    past, future = history[history["valid_from"] < T], history[history["valid_from"] >= T].copy()
    future = future.drop(index=future.index[: len(future) // 3])
    future["value"] = np.where(future["attribute"] == "plan", "enterprise", "999")
    added = pd.DataFrame({"account_id": rng.choice(accounts, 12), "valid_from": later(12),
                          "attribute": ["plan", "seats", "employees", "funding"] * 3,
                          "value": ["brand_new_plan", "77", "5000", "series_z"] * 3})
    at_t = past.head(4).assign(valid_from=T, value=lambda f: np.where(f["attribute"] == "plan", "at_t", "1234"))
    out = pd.concat([past, future, added, at_t]).astype({"valid_from": "datetime64[us]"})
    return out.drop_duplicates(["account_id", "attribute", "valid_from"], keep="last")


def _perturb_future(world: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Change, add and delete rows at or after T; add accounts created at or after T."""
    out = {k: v.copy() for k, v in world.items()}
    later = lambda n: T + pd.to_timedelta(rng.integers(0, 40 * 86400, n), unit="s")  # noqa: E731 - >= T
    ev = out["events"]
    future = ev["timestamp"] >= T
    idx = ev.index[future]
    change = rng.choice(idx, len(idx) // 3, replace=False) if len(idx) else idx
    ev.loc[change, "timestamp"] = later(len(change))
    ev.loc[change, "event"] = rng.choice(["e0", "brand_new"], len(change))
    ev.loc[change, "user_id"] = "new_user"
    ev.loc[change, "quantity"] = 99.0
    ev = ev.drop(index=rng.choice(idx, len(idx) // 4, replace=False) if len(idx) else [])
    added = pd.DataFrame({"account_id": rng.choice(world["accounts"]["account_id"], 50),
                          "event": rng.choice(["e1", "another_new"], 50), "timestamp": later(50),
                          "user_id": "fresh", "quantity": 3.0})
    at_t = ev[ev["timestamp"] < T].head(5).assign(timestamp=T)  # rows exactly at T, also duplicates
    out["events"] = pd.concat([ev, added, at_t, at_t]).astype({"timestamp": "datetime64[us]"})
    tc = out["touches"]
    out["touches"] = pd.concat([tc[tc["timestamp"] < T], pd.DataFrame(
        {"account_id": world["accounts"]["account_id"].iloc[:3].to_numpy(), "touch": "demo", "timestamp": later(3)})]
    ).astype({"timestamp": "datetime64[us]"})
    conv = out["conversions"]
    moved = conv["converted_at"] >= T
    conv.loc[moved, "converted_at"] = later(int(moved.sum()))
    out["conversions"] = conv
    newcomers = pd.DataFrame({"account_id": ["late1", "late2"], "created_at": [T, T + pd.Timedelta(days=3)],
                              "industry": ["brand_new_industry", "x"], "seats": [3.0, 1.0]})
    out["accounts"] = pd.concat([out["accounts"], newcomers.astype({"created_at": "datetime64[us]"})],
                                ignore_index=True)
    out["account_attributes"] = _perturb_history(world["account_attributes"], world["accounts"]["account_id"], rng)
    return out


def _features(world):
    tables, _ = load_frames(world)
    spec = plan_features(tables, T, CONFIG)
    return spec, build_features(tables, [T], spec)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_accounts=st.integers(3, 40), n_events=st.integers(0, 600))
def test_rows_at_or_after_t_never_change_features_at_t(seed, n_accounts, n_events):
    rng = np.random.default_rng(seed)
    world = _random_world(rng, n_accounts, max(n_events, 1))
    spec, before = _features(world)
    spec_after, after = _features(_perturb_future(world, rng))
    assert spec_after == spec
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_snapshot_built_with_later_snapshots_equals_it_built_alone(seed):
    rng = np.random.default_rng(seed)
    tables, _ = load_frames(_random_world(rng, 30, 800))
    later = [T + pd.Timedelta(days=d) for d in (7, 14, 33)]
    spec = plan_features(tables, later[-1], CONFIG)
    together = build_features(tables, [T, *later], spec)
    alone = build_features(tables, [T], spec)
    pd.testing.assert_frame_equal(together[together["as_of"] == T].reset_index(drop=True), alone)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_accounts=st.integers(3, 40))
def test_a_first_look_is_the_full_snapshot_of_the_young_accounts_and_blind_to_the_future(seed, n_accounts):
    """``max_age_us`` (first looks) keeps the rows of the accounts created at most that long before ``t``,
    with exactly the values the full snapshot gives them; rows at or after ``t`` change none of them."""
    rng = np.random.default_rng(seed)
    world = _random_world(rng, n_accounts, 400)
    max_age = pd.Timedelta(days=10)
    tables, _ = load_frames(world)
    spec = plan_features(tables, T, CONFIG)
    young = build_features(tables, [T], spec, max_age_us=int(max_age / pd.Timedelta("1us")))
    full = build_features(tables, [T], spec)
    created = world["accounts"].set_index("account_id")["created_at"]
    expected = full[(created.reindex(full["account_id"]) >= T - max_age).to_numpy()].reset_index(drop=True)
    pd.testing.assert_frame_equal(young, expected)
    later, _ = load_frames(_perturb_future(world, rng))
    pd.testing.assert_frame_equal(build_features(later, [T], spec, max_age_us=int(max_age / pd.Timedelta("1us"))), young)
