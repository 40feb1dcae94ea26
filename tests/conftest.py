"""Shared fixtures: tiny hand-made tables and one small demo world per session."""
from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).as_unit("us")


def frames(accounts=None, events=None, conversions=None, touches=None) -> dict:
    """Tiny tables in the contract's shape, with sensible defaults."""
    if accounts is None:
        accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [ts("2024-01-01"), ts("2024-01-01")],
                                 "industry": ["software", "retail"], "seats": [5, 10]})
    if events is None:
        events = pd.DataFrame({"account_id": ["a"], "event": ["task"], "timestamp": [ts("2024-01-10")],
                               "user_id": ["u1"], "quantity": [1.0]})
    if conversions is None:
        conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                    "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches}


@pytest.fixture
def make_frames():
    return frames
