"""The shared sweep of build_features against brute force, and its two ways of counting event types.

Each snapshot's windows are recomputed here from the raw rows with pandas (a rescan per snapshot and
window); the sweep must give the same integers, over snapshots spread so that saved window starts
are freed and reused, at two times of day, with empty snapshots before the data begins.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import features.build as build
from features import naming as nm
from features.build import build_features, plan_features
from features.config import FeatureConfig
from features.load import load_frames

START = pd.Timestamp("2024-01-01").as_unit("us")
CONFIG = FeatureConfig(windows=(3, 10), trend_days=2)


def _world(seed: int = 4, n_accounts: int = 40, n_events: int = 4000,
           kinds: tuple[str, ...] = tuple(f"e{k}" for k in range(7)), converted: int = 8) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    accounts = pd.DataFrame({"account_id": [f"a{i:02d}" for i in range(n_accounts)],
                             "created_at": START + pd.to_timedelta(rng.integers(0, 20 * 86400, n_accounts), unit="s")})
    accounts["created_at"] = accounts["created_at"].astype("datetime64[us]")
    events = pd.DataFrame({
        "account_id": rng.choice(accounts["account_id"], n_events),
        "event": rng.choice(list(kinds), n_events),
        # milliseconds: no exact duplicate rows (validation sets those aside; the rescan here would count them)
        "timestamp": START + pd.to_timedelta(rng.choice(60 * 86400 * 1000, n_events, replace=False), unit="ms"),
        "user_id": [f"u{k}" for k in rng.integers(0, 5, n_events)],
    }).astype({"timestamp": "datetime64[us]"})
    conv = accounts.sample(converted, random_state=seed)[["account_id", "created_at"]]
    conv = pd.DataFrame({"account_id": conv["account_id"],
                         "converted_at": (conv["created_at"] + pd.Timedelta(days=25)).astype("datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conv}


def _as_of() -> list[pd.Timestamp]:
    days = [-5, 2, 5, 9, 20, 21, 33, 47, 58]  # before the data, close together, far apart
    return [START + pd.Timedelta(days=d) for d in days] + [START + pd.Timedelta(days=d, hours=7) for d in (12, 40)]


@pytest.mark.parametrize("size", [
    dict(),
    # a few very busy accounts of one event type: saved totals above 255 and 65,535 (kept in 1, 2 or 4 bytes)
    # still subtract exactly
    dict(n_accounts=4, n_events=400_000, kinds=("e2",), converted=1),
], ids=["many-accounts", "busy-accounts"])
def test_windows_equal_a_rescan_per_snapshot(size: dict) -> None:
    world = _world(**size)
    tables, _ = load_frames(world)
    as_of = _as_of()
    spec = plan_features(tables, max(as_of), CONFIG)
    frame = build_features(tables, as_of, spec)
    events = world["events"].merge(world["accounts"], on="account_id")
    events = events[events["timestamp"] >= events["created_at"]]
    conv = world["conversions"].set_index("account_id")["converted_at"]
    checked = 0
    for t in as_of:
        got = frame[frame["as_of"] == t].set_index("account_id")
        eligible = world["accounts"][(world["accounts"]["created_at"] < t)
                                     & ~(world["accounts"]["account_id"].map(conv) < t)]
        assert sorted(got.index) == sorted(eligible["account_id"])
        for days in (3, 10, None):
            start = t - pd.Timedelta(days=days) if days is not None else pd.Timestamp.min
            seen = events[(events["timestamp"] < t) & (events["timestamp"] >= start)]
            seen = seen[seen["account_id"].isin(got.index)]
            per = seen.groupby("account_id")
            total = per.size().reindex(got.index, fill_value=0)
            assert (got[nm.count_name(nm.ALL_EVENTS, days)] == total).all(), (t, days)
            e2 = seen[seen["event"] == "e2"].groupby("account_id").size().reindex(got.index, fill_value=0)
            assert (got[nm.count_name("e2", days)] == e2).all(), (t, days)
            users = per["user_id"].nunique().reindex(got.index, fill_value=0)
            assert (got[nm.active_users(days)] == users).all(), (t, days)
            if days is not None:
                kinds = per["event"].nunique().reindex(got.index, fill_value=0)
                assert (got[nm.event_types(days)] == kinds).all(), (t, days)
                offset = (t - START) % pd.Timedelta(days=1)  # day buckets start at the as-of's time of day
                active = per["timestamp"].apply(lambda s: (s - offset).dt.floor("D").nunique())
                assert (got[nm.active_days(days)] == active.reindex(got.index, fill_value=0)).all(), (t, days)
            checked += len(got)
    assert checked > (100 if not size else 10)


def test_per_type_totals_equal_last_seen_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    tables, _ = load_frames(_world(seed=9))
    as_of = _as_of()
    spec = plan_features(tables, max(as_of), FeatureConfig(windows=(3, 10), trend_days=2, max_event_types=4))
    per_kind = build_features(tables, as_of, spec)
    monkeypatch.setattr(build, "_MAX_KIND_TOTALS", 0)  # the path for sources with many event types
    last_seen = build_features(tables, as_of, spec)
    pd.testing.assert_frame_equal(per_kind, last_seen, check_exact=True)
