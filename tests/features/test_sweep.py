"""The shared sweep of build_features against brute force, and its two ways of counting event types.

Each snapshot's windows are recomputed here from the raw rows with pandas (a rescan per snapshot and
window); the sweep must give the same integers, over snapshots spread so that saved window starts
are freed and reused, at two times of day, with empty snapshots before the data begins.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import features.sweep.block as block
import features.sweep.events as sweep_events
from features import naming as nm
from features.build import build_features
from features.config import FeatureConfig
from features.data.load import load_frames
from features.plan import plan_features


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
    monkeypatch.setattr(block, "_MAX_KIND_TOTALS", 0)  # the path for sources with many event types
    last_seen = build_features(tables, as_of, spec)
    pd.testing.assert_frame_equal(per_kind, last_seen, check_exact=True)


def _with_events(tables, **columns):
    """The same tables with some event columns replaced (EventLog and Tables are frozen dataclasses)."""
    import dataclasses

    return dataclasses.replace(tables, events=dataclasses.replace(tables.events, **columns))


def test_event_order_and_chunk_size_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events in time order (no sort: DayRuns keeps no permutation) or cut into tiny chunks give the
    table of the shuffled log read a million at a time."""
    import features.sweep.distinct as distinct
    import features.sweep.runs as runs

    tables, _ = load_frames(_world(seed=5))
    as_of = _as_of()
    spec = plan_features(tables, max(as_of), CONFIG)
    expected = build_features(tables, as_of, spec)
    ev = tables.events
    order = np.argsort(ev.ts, kind="stable")
    assert not (np.diff(ev.ts) >= 0).all()  # the world's log is not in time order
    in_time = _with_events(tables, account=ev.account[order], kind=ev.kind[order], ts=ev.ts[order],
                           user=ev.user[order])
    sorted_runs = []
    runs_of = runs.DayRuns.of
    monkeypatch.setattr(runs.DayRuns, "of", classmethod(
        lambda cls, day: sorted_runs.append(runs_of(day).order is None) or runs_of(day)))
    pd.testing.assert_frame_equal(build_features(in_time, as_of, spec), expected, check_exact=True)
    assert sorted_runs and all(sorted_runs)
    sorted_runs.clear()
    monkeypatch.setattr(sweep_events, "_CHUNK", 37)
    monkeypatch.setattr(distinct, "_CHUNK", 37)
    pd.testing.assert_frame_equal(build_features(tables, as_of, spec), expected, check_exact=True)
    assert sorted_runs and not any(sorted_runs)


def test_narrow_user_ids_count_like_hashes() -> None:
    """User hashes small enough to keep whole (no bits dropped: the build packs them itself) count the
    same distinct users as 64-bit hashes, events without a user (hash 0) left out in both."""
    tables, _ = load_frames(_world(seed=6))
    user = tables.events.user.copy()
    user[::7] = 0  # no user
    codes, small = np.unique(user, return_inverse=True)
    assert codes[0] == 0 and codes.max() >= 1 << 40  # 0 stays 0; the hashes are wide
    wide = _with_events(tables, user=user)
    narrow = _with_events(tables, user=small.astype(np.uint64))
    as_of = _as_of()
    spec = plan_features(wide, max(as_of), CONFIG)
    got, expected = build_features(narrow, as_of, spec), build_features(wide, as_of, spec)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert (expected[nm.active_users(None)] > 0).any()
