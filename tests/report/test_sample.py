"""The report's sample of tier-1 accounts: the newest backtest week's best, with who to call."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.data.load import load_frames
from report.sample import tier1_sample

T = pd.Timestamp("2024-03-04")


def _tables(users: bool = True):
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    events = pd.DataFrame({"account_id": ["a", "b"], "event": ["x", "x"],
                           "timestamp": pd.to_datetime(["2024-02-20", "2024-02-21"]), "user_id": ["a1", "b1"]})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    people = pd.DataFrame({"user_id": ["a1", "a2", "b1"], "account_id": ["a", "a", "b"],
                           "created_at": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-02"]),
                           "title": ["Engineer", "Head of Sales", "Designer"]})
    return load_frames({"accounts": accounts, "events": events, "conversions": conversions,
                        "users": people if users else None})[0]


TEST = pd.DataFrame({"account_id": ["a", "b", "c", "a"], "as_of": [T, T, T, T - pd.Timedelta(days=7)],
                     "score": [0.4, 0.6, 0.9, 0.99], "pql_tier": [1, 1, 2, 1], "label": [1, 0, 0, 0]})


def test_the_newest_weeks_tier_one_best_first_with_contacts() -> None:
    rows = tier1_sample(TEST, _tables(), None)
    assert [r["account"] for r in rows] == ["b", "a"] and [r["score"] for r in rows] == ["60%", "40%"]
    assert [r["converted"] for r in rows] == ["no", "yes"]
    assert rows[1]["contacts"] == ("a2 (Head of Sales, decision maker, not active yet); "
                                   "a1 (Engineer, last active 2024-02-20)")
    assert tier1_sample(TEST, _tables(users=False), None)[0]["contacts"] == ""
    assert tier1_sample(TEST.assign(pql_tier=2), _tables(), None) == []


def test_the_training_report_shows_the_sample_with_contacts(trained) -> None:
    text = (Path(trained.root) / "report.html").read_text()
    assert '<table id="tier1-sample">' in text and "decision maker" in text.split('id="tier1-sample"')[1]


def test_buckets_of_accounts_give_the_same_sample_as_the_whole_tables(tmp_path) -> None:
    from engines.local import LocalEngine
    from engines.settings import EngineConfig
    from features.config import DataConfig

    data = DataConfig(demo={"accounts": 120, "days": 90, "start": "2024-01-01", "seed": 2})
    whole, _ = LocalEngine().load_tables(data)
    bucketed, _ = LocalEngine(EngineConfig(memory_gb=1e-6, partitions=4)).load_tables(data)
    assert bucketed.state.buckets == 4 and not len(bucketed.users.ids)  # the driver holds no users
    t = pd.Timestamp("2024-03-25")
    ids = whole.accounts["account_id"].iloc[::9].tolist()
    test = pd.DataFrame({"account_id": ids, "as_of": t, "score": [0.9 - i / 100 for i in range(len(ids))],
                         "pql_tier": 1, "label": 0})
    want = tier1_sample(test, whole, None, n=len(ids))
    assert tier1_sample(test, bucketed, None, n=len(ids)) == want
    assert sum(bool(r["contacts"]) for r in want) >= len(ids) // 2
