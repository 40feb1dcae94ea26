"""Fixtures of the learned-definition tests: a world whose converters follow one readable rule, and its list."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from train import learned as D
from train.config import LearnedConfig


def _world(n_snapshots: int = 12, per_snapshot: int = 600, seed: int = 0):
    """Converters are the accounts with 100+ API calls and seats at 80%+ of the limit (plus a little noise);
    nobody makes 96 to 99 calls, so a tree's cut lands between 95 and 100."""
    rng = np.random.default_rng(seed)
    n = n_snapshots * per_snapshot
    api = np.floor(rng.exponential(40, n))
    api = np.where((api >= 96) & (api < 100), 95, api)
    ratio = np.round(rng.uniform(0, 1, n), 2)
    ratio[rng.random(n) < 0.05] = np.nan  # plan limit unknown: a missing value never satisfies a condition
    events = np.floor(rng.exponential(20, n))
    industry = pd.Categorical(rng.choice(["software", "retail", "media"], n), categories=["software", "retail", "media"])
    hot = (api >= 100) & (ratio >= 0.8)
    y = (rng.random(n) < np.where(hot, 0.7, 0.01)).astype(int)
    snapshot = np.repeat(pd.date_range("2024-01-01", periods=n_snapshots, freq="7D").to_numpy("datetime64[us]"),
                         per_snapshot)
    X = pd.DataFrame({"api_call_quantity_30d": api, "events_count_30d": events, "seats_used_ratio": ratio,
                      "industry": industry})
    return X, y, snapshot


@pytest.fixture(scope="module")
def world():
    """(X, y, snapshot) of 12 weekly snapshots of 600 rows."""
    return _world()


@pytest.fixture(scope="session")
def learned_config() -> LearnedConfig:
    """Ten trees propose candidates (fewer than the default: the world is small)."""
    return LearnedConfig(trees=10)


@pytest.fixture(scope="module")
def learned(world, small_spec, learned_config):
    """The list learned on the world under a budget of 40 accounts a snapshot."""
    X, y, snapshot = world
    return D.learn(X, y, snapshot, small_spec, budget=40, config=learned_config)
