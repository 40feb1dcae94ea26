"""The demo world's conversion process (demo.latents): the cumulative hazard from the exact signup instant,
and the first arrival sampled exactly where the cumulative hazard crosses an exponential budget."""
from __future__ import annotations

import numpy as np
import pytest

from demo.latents import cumulative_hazard, first_arrival


def test_cumulative_hazard_by_hand():
    hazard = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    created = np.array([1.5, 0.0])  # the first signs up at noon of day 1: half of day 1 counts
    cum = cumulative_hazard(hazard, created)
    assert cum.shape == (2, 4)
    assert np.allclose(cum, [[0.0, 0.0, 1.0, 4.0], [0.0, 0.5, 1.0, 1.5]])
    assert hazard.tolist() == [[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]  # the input is left as it was


def _hazard_at(hazard: np.ndarray, created: float, t: float) -> float:
    """The cumulative hazard of one account at ``t`` days, integrated piece by piece."""
    total = 0.0
    for day, rate in enumerate(hazard):
        lo, hi = max(day, created), min(day + 1.0, t)
        total += rate * max(hi - lo, 0.0)
    return total


def test_the_arrival_is_where_the_cumulative_hazard_reaches_the_budget():
    rng = np.random.default_rng(4)
    n, days = 400, 30
    hazard = rng.uniform(0.0, 0.2, (n, days))
    hazard[:50] = 0.0  # never converts
    created = rng.uniform(0.0, 10.0, n)
    at = first_arrival(np.random.default_rng(11), hazard, cumulative_hazard(hazard, created), created)
    budget = np.random.default_rng(11).exponential(1.0, n)  # the draws first_arrival made
    assert np.isinf(at[:50]).all()
    hit = np.isfinite(at)
    assert hit.sum() > 200 and (at[hit] >= created[hit]).all() and (at[hit] < days).all()
    for i in np.flatnonzero(hit):
        assert _hazard_at(hazard[i], created[i], at[i]) == pytest.approx(budget[i], rel=1e-9, abs=1e-9)
    for i in np.flatnonzero(~hit)[50:]:
        assert _hazard_at(hazard[i], created[i], days) <= budget[i]  # the budget was never reached


def test_a_constant_hazard_gives_exponential_waiting_times():
    n, rate = 20_000, 0.1
    hazard = np.full((n, 400), rate)
    created = np.zeros(n)
    at = first_arrival(np.random.default_rng(0), hazard, cumulative_hazard(hazard, created), created)
    assert np.isfinite(at).mean() > 0.99
    assert at[np.isfinite(at)].mean() == pytest.approx(1 / rate, rel=0.03)
