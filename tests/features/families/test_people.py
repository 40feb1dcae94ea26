"""People features: users and decision makers who joined before t, decision makers active lately; point in time."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import FeatureConfig
from features.data.load import load_frames
from features.errors import ConfigError
from features.plan import plan_features
from rules.language import Rule

T = pd.Timestamp("2024-03-01 06:00").as_unit("us")
TITLES = ["VP Sales", "Engineer", "Head of Ops", "Designer", "Geschäftsführer", "Analyst", None]


def _world(rng: np.random.Generator, n_accounts: int = 30, n_users: int = 120, n_events: int = 3000) -> dict:
    start = T - pd.Timedelta(days=60)
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(n_accounts)],
                             "created_at": (start + pd.to_timedelta(rng.integers(0, 40 * 86400, n_accounts), unit="s")
                                            ).astype("datetime64[us]")})
    owner = rng.integers(0, n_accounts, n_users)
    joined = accounts["created_at"].to_numpy()[owner] + pd.to_timedelta(rng.integers(0, 60 * 86400, n_users), unit="s")
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)], "account_id": accounts["account_id"][owner].to_numpy(),
                          "created_at": pd.Series(joined).astype("datetime64[us]"),
                          "title": rng.choice(np.array(TITLES, dtype=object), n_users)})
    who = rng.integers(0, n_users, n_events)
    events = pd.DataFrame({"account_id": users["account_id"].to_numpy()[who], "event": rng.choice(["x", "y"], n_events),
                           "timestamp": (start + pd.to_timedelta(rng.integers(0, 90 * 86400, n_events), unit="s")
                                         ).astype("datetime64[us]"),
                           "user_id": users["user_id"].to_numpy()[who]})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "users": users}


def _features(world: dict, config: FeatureConfig = FeatureConfig(windows=(7, 30))) -> pd.DataFrame:
    tables, _ = load_frames(world)
    spec = plan_features(tables, T, config)
    return build_features(tables, [T], spec).set_index("account_id")


def _expected(world: dict) -> pd.DataFrame:
    """The people columns by hand, from the rows before T."""
    users, events = world["users"], world["events"]
    known = users[users["created_at"] < T]
    buyer = known["title"].fillna("").str.contains(r"VP|Head|Geschäftsführer")
    out = pd.DataFrame({"users_count": known.groupby("account_id").size(),
                        "buyers_count": known[buyer].groupby("account_id").size()})
    for days in (7, 30):
        recent = events[(events["timestamp"] < T) & (events["timestamp"] >= T - pd.Timedelta(days=days))
                        & events["user_id"].isin(known.loc[buyer, "user_id"])]
        out[f"buyer_active_{days}d"] = recent.groupby("account_id").size().gt(0).astype(int)
    return out


def test_people_columns_count_what_joined_and_acted_before_t() -> None:
    world = _world(np.random.default_rng(1))
    got = _features(world)
    want = _expected(world).reindex(got.index).fillna(0).astype(int)
    for column in want.columns:
        assert got[column].tolist() == want[column].tolist(), column
    assert got["buyers_count"].sum() > 0 and got["buyer_active_30d"].sum() > 0
    # a log in time order is sliced rather than masked: the same values
    in_order = {**world, "events": world["events"].sort_values("timestamp", kind="stable").reset_index(drop=True)}
    pd.testing.assert_frame_equal(_features(in_order)[list(want.columns)], got[list(want.columns)])


@pytest.mark.parametrize("seed", range(4))
def test_users_added_changed_or_deleted_at_or_after_t_move_no_feature(seed: int) -> None:
    rng = np.random.default_rng(seed)
    world = _world(rng)
    before = _features(world)
    users = world["users"].copy()
    future = users["created_at"] >= T
    users.loc[future, "title"] = "Chief Executive Officer"  # changed
    users = users.drop(index=users.index[future][::2])  # deleted
    # added: decision makers joining at or after t whose ids the events before t already name
    early = world["events"][world["events"]["timestamp"] < T].drop_duplicates("user_id").head(5)
    named = set(users["user_id"])
    added = early[~early["user_id"].isin(named)]
    users = pd.concat([users, pd.DataFrame({"user_id": added["user_id"], "account_id": added["account_id"],
                                            "created_at": T + pd.Timedelta(days=1), "title": "Owner"}),
                       pd.DataFrame({"user_id": ["new1"], "account_id": ["a0"], "created_at": [T], "title": ["CEO"]})],
                      ignore_index=True).astype({"created_at": "datetime64[us]"})
    after = _features({**world, "users": users})
    pd.testing.assert_frame_equal(before, after)


def test_the_persona_is_configurable_and_checked() -> None:
    world = _world(np.random.default_rng(2))
    world["users"]["role"] = np.where(world["users"]["title"] == "Engineer", "admin", "member")
    got = _features(world, FeatureConfig(windows=(7,), buyers={"role": "^admin$"}))
    engineers = world["users"][(world["users"]["title"] == "Engineer") & (world["users"]["created_at"] < T)]
    assert got["buyers_count"].sum() == len(engineers)
    with pytest.raises(ConfigError, match="features.buyers.team: the users table has no column 'team'"):
        _features(world, FeatureConfig(buyers={"team": "x"}))
    with pytest.raises(ConfigError, match="features.buyers.title: '\\(' is not a regular expression"):
        _features(world, FeatureConfig(buyers={"title": "("}))


def test_no_title_column_no_buyer_columns_and_no_users_table_no_people_columns() -> None:
    world = _world(np.random.default_rng(3))
    got = _features({**world, "users": world["users"].drop(columns="title")})
    assert "users_count" in got and "buyers_count" not in got and "buyer_active_7d" not in got
    assert "users_count" not in _features({**world, "users": None})


def test_a_rule_over_people_features_flags_a_decision_maker_active_this_week() -> None:
    features = _features(_world(np.random.default_rng(4)))
    rule = Rule("director_this_week", "a decision maker active this week", "buyer_active_7d == 1 and users_count >= 2")
    flagged = rule.evaluate(features)
    assert flagged.any() and not flagged.all()
    assert (features.loc[flagged, "buyer_active_7d"] == 1).all()
