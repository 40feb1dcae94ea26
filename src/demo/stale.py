"""The stale-pool quirk (``DemoConfig.stale_share``): extra accounts that sign up like the others, act a
few times in their first week, then never again and never convert.

They come from a random stream of their own, so the normal accounts stay exactly those of the quirk-free
world of the same seed; only the ids change, which follow signup order in both pools alike.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from demo.activity import EVENT_TYPES
from demo.config import US_PER_DAY, DemoConfig
from demo.firmographics import draw_accounts
from demo.people import signup_people

# what stale accounts do in their first week, and how often
STALE_EVENTS = {"session_started": .6, "task_created": .2, "project_created": .1, "dashboard_viewed": .1}
STALE_MAX_EVENTS, STALE_ACTIVE_DAYS = 5, 7
STALE_STREAM = 1  # apart from the main stream (and the external ids' stream, demo.frames)
# what the truth holds for a stale account: never converts, no hazard, a team of one
_STALE_TRUTH = {"converted": np.inf, "hazard": 0.0, "cum": 0.0, "stale": True, "team": 1}


def _stale(cfg: DemoConfig, n: int) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    """n stale accounts that sign up like the others, act a few times in their first week, then never again.

    Returns their account arrays and their events as ``draw_events`` gives them, numbered from cfg.accounts.
    """
    rng = np.random.default_rng([cfg.seed, STALE_STREAM])
    acc = draw_accounts(rng, replace(cfg, accounts=n))
    a = np.repeat(np.arange(n), rng.integers(1, STALE_MAX_EVENTS + 1, n))
    after = np.floor(rng.random(len(a)) * (STALE_ACTIVE_DAYS * US_PER_DAY)).astype(np.int64)
    ts = np.minimum(acc["created_us"][a] + after, cfg.days * US_PER_DAY - 1)  # the world ends with the period
    kinds = np.array([EVENT_TYPES.index(e) for e in STALE_EVENTS], np.int8)
    shares = np.array(list(STALE_EVENTS.values()))
    etype = kinds[rng.choice(len(kinds), len(a), p=shares / shares.sum())]
    return acc, (a + cfg.accounts, etype, ts, np.zeros(len(a), np.int64), np.ones(len(a)))


def add_stale(cfg: DemoConfig, n: int, acc: dict[str, np.ndarray], truth: dict[str, np.ndarray],
              events: tuple[np.ndarray, ...], touches: tuple[np.ndarray, ...], buyers: np.ndarray,
              people: dict[str, np.ndarray]) -> tuple:
    """Append n stale accounts, then renumber every account in signup order (ids must not tell them apart).

    Returns (acc, truth, events, touches, buyers, people) as given, with the stale accounts (and their
    signers-up) in them.
    """
    stale_acc, stale_events = _stale(cfg, n)
    acc = {k: np.concatenate([v, stale_acc[k]]) for k, v in acc.items()}
    truth = {k: np.concatenate([v, np.full((n, *v.shape[1:]), _STALE_TRUTH[k], v.dtype)]) for k, v in truth.items()}
    events = tuple(np.concatenate(pair) for pair in zip(events, stale_events))
    order = np.argsort(acc["created_us"], kind="stable")
    row = np.empty_like(order)
    row[order] = np.arange(len(order))
    stale_people = signup_people(stale_acc, first=cfg.accounts)
    people = {k: np.concatenate([v, stale_people[k]]) for k, v in people.items()}
    return ({k: v[order] for k, v in acc.items()}, {k: v[order] for k, v in truth.items()},
            (row[events[0]], *events[1:]), (row[touches[0]], *touches[1:]), row[buyers],
            {**people, "account": row[people["account"]]})
