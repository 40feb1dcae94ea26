"""Fixtures of the learned-definition tests: a world whose converters follow one readable rule, and its list."""
from __future__ import annotations

import hashlib

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


COUNTRIES = ("US", "DE", "FR", "GB", "NL", "ES", "IT", "SE", "NO", "DK", "FI", "PL", "PT", "IE", "BE", "AT", "CH",
             "CA", "AU", "NZ", "JP", "BR", "MX")


@pytest.fixture(scope="module")
def id_world():
    """(X, y, snapshot, spec): 12 weekly snapshots of 600 rows with a 23-value country code (accounts with 60+ API
    calls convert outside JP, BR and MX) and a landing-page id of 500 hex values (the spec keeps the top 50 and
    ``(other)``, as the fit family does); ``y_pages``: converters on 11 landing pages instead."""
    from features.spec import OTHER, Column, FeatureSpec

    rng = np.random.default_rng(1)
    n = 12 * 600
    api = np.floor(rng.exponential(40, n))
    pages = [hashlib.md5(str(i).encode()).hexdigest() for i in range(500)]
    page = rng.choice(pages, n)
    country = rng.choice(COUNTRIES, n)
    hot = (api >= 60) & ~np.isin(country, ["JP", "BR", "MX"])
    y = (rng.random(n) < np.where(hot, 0.6, 0.01)).astype(int)
    top = list(pd.Series(page).value_counts().index[:50])
    snapshot = np.repeat(pd.date_range("2024-01-01", periods=12, freq="7D").to_numpy("datetime64[us]"), 600)
    X = pd.DataFrame({"api_call_quantity_30d": api, "country_code": pd.Categorical(country, categories=COUNTRIES),
                      "landing_page_id": pd.Categorical(np.where(np.isin(page, top), page, OTHER),
                                                        categories=[*top, OTHER])})
    y_pages = ((X["landing_page_id"].isin(top[:11]).to_numpy() & (api >= 20)) | ((y == 1) & (np.arange(n) % 3 == 0)))
    spec = FeatureSpec(windows=(30,), columns=(
        Column("api_call_quantity_30d", "quantity", "usage", "total quantity of 'api call' in the last 30 days: {value}"),
        Column("country_code", "category", "fit", "country code: {value}", COUNTRIES),
        Column("landing_page_id", "category", "fit", "landing page id: {value}", (*top, OTHER))))
    return X, y, snapshot, spec, y_pages.astype(int)
