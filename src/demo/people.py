"""The people of the demo world: the signer-up and every teammate invited later, with job titles.

The team trajectory (``demo.latents``) says how many users join each account on each day; here each of them
gets a join instant within that day and a title. The signer-up's title follows the account's signup role;
in some accounts one invited teammate (and a few others anywhere) is a decision maker (VP, head, director, founder, owner, C-level, in several
languages). Planted effect: once a decision maker has joined an account, its daily conversion hazard is
``BUYER_EFFECT`` higher on the log scale (``buyer_since``, read by ``demo.latents.daily_hazard``), so the buyer
features of :mod:`features.families.people` carry signal the other tables do not.

Drawn from a random stream of their own: the users change no other table's draws (the hazard they move
changes which accounts convert).
"""

from __future__ import annotations

import numpy as np

from demo.config import US_PER_DAY, DemoConfig
from demo.firmographics import ROLES

PEOPLE_STREAM = 3  # apart from the main stream, the stale pool's (1) and the external ids' (2)
BUYER_ACCOUNTS = 0.3  # of accounts that invite anyone: one invitee (at random) is a decision maker
BUYER_SHARE = 0.03  # of the other invited teammates
BUYER_EFFECT = 1.6  # log-hazard lift once a decision maker has joined
SIGNUP_TITLES = {"engineer": "Software Engineer", "product_manager": "Product Manager", "founder": "Founder & CEO",
                 "marketer": "Marketing Manager", "operations": "Operations Manager", "student": "Student"}
BUYER_TITLES = ("VP of Sales", "Head of Operations", "Director of Engineering", "CTO", "Directrice marketing",
                "Geschäftsführer", "Directora de ventas", "Co-founder", "Owner", "Head of Customer Success")
OTHER_TITLES = ("Software Engineer", "Account Executive", "Marketing Manager", "Designer", "Data Analyst",
                "Customer Success Manager", "Product Manager", "Sales Representative", "Ingénieur logiciel",
                "Entwickler", "Intern", "Support Specialist")
TITLES = tuple(dict.fromkeys([*SIGNUP_TITLES.values(), *BUYER_TITLES, *OTHER_TITLES]))


def signup_people(acc: dict[str, np.ndarray], first: int = 0) -> dict[str, np.ndarray]:
    """The signer-up of each account (numbered from ``first``): user 0, joined at signup, titled by role."""
    n = len(acc["created_us"])
    by_role = np.array([TITLES.index(SIGNUP_TITLES[r]) for r in ROLES])
    return {"account": np.arange(first, first + n), "k": np.zeros(n, np.int64),
            "joined_us": acc["created_us"].astype(np.int64), "title": by_role[acc["role"]]}


def draw_people(cfg: DemoConfig, acc: dict[str, np.ndarray], team: np.ndarray) -> dict[str, np.ndarray]:
    """Every user of every account (``team``: users at the start of each day, one column more than days):
    account row, number within the account (0: the signer-up), join instant (us since start), title code
    (into ``TITLES``); and per account ``buyer_since``, the day offset its first invited decision maker joined
    (inf: none)."""
    rng = np.random.default_rng([cfg.seed, PEOPLE_STREAM])
    n, days = team.shape[0], team.shape[1] - 1
    invites = np.diff(team, axis=1).ravel()
    a, d = np.divmod(np.repeat(np.arange(invites.size), invites), days)  # ordered by account, then day
    joined = np.maximum(d * US_PER_DAY + np.floor(rng.random(len(a)) * US_PER_DAY).astype(np.int64),
                        acc["created_us"][a])
    # one decision maker in some accounts whatever their team's size (a bigger team alone must not tell), a few more
    per_account = np.bincount(a, minlength=n)
    starts = np.cumsum(per_account) - per_account
    chosen = np.flatnonzero((per_account > 0) & (rng.random(n) < BUYER_ACCOUNTS))
    buyer = rng.random(len(a)) < BUYER_SHARE
    buyer[starts[chosen] + np.floor(rng.random(len(chosen)) * per_account[chosen]).astype(np.int64)] = True
    buyer_codes = np.array([TITLES.index(t) for t in BUYER_TITLES])
    other_codes = np.array([TITLES.index(t) for t in OTHER_TITLES])
    title = np.where(buyer, buyer_codes[rng.integers(0, len(buyer_codes), len(a))],
                     other_codes[rng.integers(0, len(other_codes), len(a))])
    buyer_since = np.full(n, np.inf)
    np.minimum.at(buyer_since, a[buyer], joined[buyer] / US_PER_DAY)
    k = np.arange(len(a)) - np.repeat(starts, per_account) + 1
    first = signup_people(acc)
    people = {"account": np.concatenate([first["account"], a]), "k": np.concatenate([first["k"], k]),
              "joined_us": np.concatenate([first["joined_us"], joined]),
              "title": np.concatenate([first["title"], title])}
    return {**people, "buyer_since": buyer_since}
