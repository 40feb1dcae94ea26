"""The hidden process of the demo world: per account and day an engagement trajectory, intent pulses, a
sales-assist (demo) window and a team that grows; from them alone the daily conversion hazard, its
integral, and the conversions it causes. The tables only ever show noisy traces of these latents.

Every function draws from the one random stream in a fixed order: moving a draw changes the world.
"""

from __future__ import annotations

import numpy as np

from demo.config import US_PER_DAY, DemoConfig, origin
from demo.people import BUYER_EFFECT

HAZARD_BASE = -7.9  # sets the 30-day base rate among eligible accounts to roughly 4%


def _bump(age: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Gamma-shaped pulse: rises from start, peaks at 1 one width later, then decays."""
    x = np.clip((age - start[:, None]) / width[:, None], 0.0, None)
    return (x * np.exp(1.0 - x)).astype(np.float32)


def latents(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per account-day latent state: engagement, intent, demo window, team, product drivers."""
    n, days, created = cfg.accounts, cfg.days, acc["created"]
    day = np.arange(days, dtype=np.float64)
    age = (day[None, :] + 0.5 - created[:, None]).astype(np.float32)  # at mid-day
    frac = np.clip(day[None, :] + 1.0 - created[:, None], 0.0, 1.0).astype(np.float32)  # share of day alive
    weekday = np.where((origin(cfg).day_of_week + np.arange(days)) % 7 < 5, 1.0, 0.35)
    level, engagement, rollout_at, rollout_size = _engagement(rng, acc, age)
    intent, memory = _intent(rng, acc["fit"], age, level)
    demo_start = np.where(rng.random(n) < 0.06 + 0.08 * acc["good_fit"], rng.uniform(0.0, days, n), np.inf)
    users, invites = _team(rng, acc, age, frac, weekday, engagement, intent, (rollout_at, rollout_size))
    team = users[:, :days].astype(np.float32)
    ratio = team / acc["seat_limit"][:, None].astype(np.float32)
    seat_pressure = (1.0 / (1.0 + np.exp(np.float32(-10.0) * (ratio - np.float32(0.8))))).astype(np.float32)
    w_api, integ = _drivers(rng, acc, engagement, frac)
    return {"age": age, "frac": frac, "weekday": weekday.astype(np.float32), "engagement": engagement,
            "intent": intent, "intent_memory": memory, "demo_start": demo_start, "users": users,
            "invites": invites, "team": team, "seat_pressure": seat_pressure, "w_api": w_api,
            "integ": integ}


def _engagement(rng: np.random.Generator, acc: dict[str, np.ndarray], age: np.ndarray) -> tuple[np.ndarray, ...]:
    """Engagement: onboarding ramp, plateau, decay for churners, autocorrelated bursts, a lift after a team
    rollout. Returns (level, engagement, rollout_at, rollout_size)."""
    n, days = age.shape
    fit = acc["fit"]
    level = np.exp(rng.normal(0.3 * fit, 0.8))
    ramp = rng.uniform(2.0, 21.0, n)
    churns = rng.random(n) < 1.0 / (1.0 + np.exp(0.4 + 1.2 * fit))
    churn_at, churn_rate = rng.exponential(40.0, n) + 7.0, rng.uniform(0.02, 0.12, n)
    noise = rng.normal(0.0, 0.3, (n, days)).astype(np.float32)
    for d in range(1, days):
        noise[:, d] += np.float32(0.8) * noise[:, d - 1]
    alive_age = np.clip(age, 0.0, None)
    decay = np.exp(-(churns * churn_rate)[:, None] * np.clip(alive_age - churn_at[:, None], 0.0, None))
    # some accounts roll the product out to their team within a few days, and use it more after
    rollout = rng.random(n) < (0.05 + 0.15 * (acc["employees"] >= 50)) * np.minimum(level, 3.0)
    rollout_at = np.where(rollout, rng.uniform(3.0, 60.0, n), np.inf)
    rollout_size = np.exp(rng.normal(np.log(4.0 + np.minimum(acc["employees"], 200) ** 0.5), 0.5, n))
    adoption = np.where(age >= rollout_at[:, None] + 4.0, 1.5, 1.0)
    engagement = (level[:, None] * -np.expm1(-alive_age / ramp[:, None]) * decay * adoption
                  * np.exp(noise - 0.125)).astype(np.float32)
    return level, engagement, rollout_at, rollout_size


def _intent(rng: np.random.Generator, fit: np.ndarray, age: np.ndarray,
            level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intent, up to three pulses (likelier for engaged, well-fitting accounts), and its lagged memory."""
    n, days = age.shape
    intent = np.zeros((n, days), np.float32)
    for _ in range(3):
        present = rng.random(n) < 0.2 + 0.3 / (1.0 + np.exp(-fit - 0.5 * np.log(level)))
        start, width = rng.uniform(2.0, max(days, 3.0), n), rng.uniform(3.0, 12.0, n)
        amp = np.where(present, np.exp(rng.normal(-0.2, 0.5, n)), 0.0).astype(np.float32)
        intent += amp[:, None] * _bump(age, start, width)
    # buying follows intent with a lag: the hazard reads a ~10-day memory of it, so that the
    # signals intent leaves (billing and pricing views, email opens) come before the purchase
    memory = np.zeros_like(intent)
    for d in range(1, days):
        memory[:, d] = np.float32(0.9) * memory[:, d - 1] + np.float32(0.1) * intent[:, d - 1]
    return intent, memory


def _team(rng: np.random.Generator, acc: dict[str, np.ndarray], age: np.ndarray, frac: np.ndarray,
          weekday: np.ndarray, engagement: np.ndarray, intent: np.ndarray,
          rollout: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Users at the start of each day (one column more than days) and invites per day: invites follow
    engagement and intent, and past the plan's seat limit they get rarer."""
    n, days = age.shape
    rollout_at, rollout_size = rollout
    invite_prop = (0.012 * (acc["employees"] / 10.0) ** 0.35 * np.exp(rng.normal(0.0, 0.8, n))
                   * np.array([1.6, 1.2, 1.0, 0.6, 0.8])[acc["use_case"]] * np.where(acc["student"], 0.4, 1.0))
    users = np.ones((n, days + 1), np.int32)
    invites = np.zeros((n, days), np.int32)
    for d in range(days):
        organic = invite_prop * engagement[:, d] * frac[:, d] * weekday[d] * (1.0 + intent[:, d])
        at_limit = users[:, d] >= acc["seat_limit"]
        # a deliberate rollout pushes on through the seat limit more often than organic invites
        rolling = np.where(np.abs(age[:, d] - rollout_at - 2.0) < 2.0, rollout_size / 4.0, 0.0)
        invites[:, d] = rng.poisson(organic * np.where(at_limit, 0.3, 1.0) + rolling * np.where(at_limit, 0.7, 1.0))
        users[:, d + 1] = users[:, d] + invites[:, d]
    return users, invites


def _drivers(rng: np.random.Generator, acc: dict[str, np.ndarray], engagement: np.ndarray,
             frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Product drivers (expected daily counts before the global event scale): each account's API weight,
    and expected integrations per account-day."""
    uc = acc["use_case"]
    w_api = (np.where(acc["engineer"], 1.0, 0.08) * np.array([0.5, 0.7, 0.8, 2.0, 1.5])[uc]
             * np.where(acc["api_gate"] & ~acc["engineer"], 3.0, 1.0) * np.exp(rng.normal(0.0, 0.6, len(uc))))
    integ = ((0.012 * np.array([0.6, 1.2, 1.0, 2.0, 1.2])[uc])[:, None] * engagement * frac).astype(np.float32)
    return w_api.astype(np.float32), integ


def daily_hazard(rng: np.random.Generator, acc: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> np.ndarray:
    """Daily conversion hazard from the latents and fit, with interactions rules would miss."""
    age, team, demo = lat["age"], lat["team"], lat["demo_start"][:, None]
    api = lat["w_api"][:, None] * lat["engagement"]
    depth = np.cumsum(lat["integ"], axis=1) - lat["integ"]  # expected integrations before each day
    log_h = (HAZARD_BASE + 0.7 * acc["fit"] + acc["role_fx"] + rng.normal(0.0, 0.3, len(age)))[:, None] + (
        0.35 * np.log(np.clip(lat["engagement"], 0.05, 20.0))
        + 0.5 * np.minimum(lat["intent"], 2.0) + 1.6 * np.minimum(lat["intent_memory"], 1.5)
        + 1.0 * lat["seat_pressure"] + 0.2 * np.log(team)
        + np.where(acc["api_gate"][:, None], 0.6 * np.log1p(api), 0.0)  # API use matters for some only
        + 0.3 * np.minimum(depth, 3.0)
        # big companies buy only once several people use the product
        + np.where(acc["employees"][:, None] >= 200, np.where(team < 3, -1.5, np.where(team >= 5, 0.6, 0.0)), 0.0)
        # a sales conversation after a demo request pays off only for good-fit accounts
        + np.where(acc["good_fit"][:, None] & (age >= demo) & (age < demo + 35), 2.0, 0.0)
        + np.where(acc["trial"][:, None] & (age >= 10) & (age < 17), 1.2, 0.0)  # the trial ends at day 14
        + 0.7 * np.log(lat["weekday"])[None, :]
        # a decision maker on the team (demo.people): from the first day after one joined
        + np.where(np.arange(age.shape[1])[None, :] >= lat.get("buyer_since", np.full(len(age), np.inf))[:, None],
                   BUYER_EFFECT, 0.0))
    return np.exp(log_h.astype(np.float64))


def cumulative_hazard(hazard: np.ndarray, created: np.ndarray) -> np.ndarray:
    """(accounts, days + 1) cumulative hazard at each midnight, from the exact signup instant on."""
    # integrate in float64 with the exact signup instant, as DemoWorld.true_probability does
    alive = np.clip(np.arange(hazard.shape[1]) + 1.0 - created[:, None], 0.0, 1.0)
    cum = np.zeros((hazard.shape[0], hazard.shape[1] + 1))
    np.cumsum(hazard * alive, axis=1, out=cum[:, 1:])
    return cum


def first_arrival(rng: np.random.Generator, hazard: np.ndarray, cum: np.ndarray, created: np.ndarray) -> np.ndarray:
    """First arrival of the hazard process (days since start, inf when none), sampled exactly."""
    budget = rng.exponential(1.0, len(created))
    day = (cum[:, 1:] <= budget[:, None]).sum(axis=1)
    hit = day < hazard.shape[1]
    rows, d = np.flatnonzero(hit), day[hit]
    at = np.full(len(created), np.inf)
    at[rows] = np.minimum(np.maximum(d, created[rows]) + (budget[rows] - cum[rows, d]) / hazard[rows, d],
                          d + 1.0 - 1e-9)  # keep float rounding inside the crossing day
    return at


def draw_conversions(rng: np.random.Generator, acc: dict[str, np.ndarray], users: np.ndarray,
                converted: np.ndarray) -> tuple[np.ndarray, ...]:
    """(buyer, us since start, seat-based first-year contract value) of every real conversion."""
    buyers = np.flatnonzero(np.isfinite(converted))
    # round up to the microsecond so that converted_at > created_at holds on the written table too
    conv_us = np.ceil(converted[buyers] * US_PER_DAY).astype(np.int64)
    seats = np.maximum(users[buyers, np.floor(converted[buyers]).astype(np.int64) + 1], 3)
    price = np.where(acc["employees"][buyers] >= 200, 30.0, 15.0)  # per seat and month
    amount = np.round(seats * price * 12 * rng.uniform(0.85, 1.0, len(buyers)), 2)
    return buyers, conv_us, amount
