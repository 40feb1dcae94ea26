"""The demo world's people: who joins when, their titles, and the buyer effect planted in the hazard."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demo import DemoConfig, generate_demo
from demo.people import BUYER_TITLES, TITLES, draw_people
from features.families.people import BUYERS, is_buyer

SMALL = DemoConfig(accounts=400, days=150, seed=3)


@pytest.fixture(scope="module")
def world():
    return generate_demo(SMALL)


def test_every_user_of_the_events_is_in_users_and_joined_before_acting(world) -> None:
    users, events = world.users, world.events
    assert users["user_id"].is_unique
    assert events["user_id"].isin(users["user_id"]).all()
    joined = users.set_index("user_id")["created_at"]
    assert (events["timestamp"].to_numpy() >= joined.loc[events["user_id"]].to_numpy()).all()
    created = world.accounts.set_index("account_id")["created_at"]
    assert (users["created_at"].to_numpy() >= created.loc[users["account_id"]].to_numpy()).all()


def test_the_signer_up_is_the_admin_titled_by_signup_role(world) -> None:
    first = world.users[world.users["user_id"].str.endswith("_u0")]
    assert len(first) == len(world.accounts) and (first["role"] == "admin").all()
    roles = world.accounts.set_index("account_id").loc[first["account_id"], "signup_role"].to_numpy()
    assert set(first["title"][roles == "founder"]) == {"Founder & CEO"}


def test_the_default_persona_finds_exactly_the_buyer_titles() -> None:
    frame = pd.DataFrame({"title": list(TITLES)})
    found = set(frame["title"][is_buyer(frame, BUYERS)])
    assert found == {*BUYER_TITLES, "Founder & CEO"}


def test_a_decision_maker_joining_raises_the_hazard() -> None:
    with_effect = generate_demo(SMALL)
    people = draw_people(SMALL, *_inputs(SMALL))
    has = np.isfinite(people["buyer_since"])
    assert 0.05 < has.mean() < 0.6
    # the hazard jumps on the first day after a decision maker joined (other terms move slowly)
    rows = np.flatnonzero(has & (people["buyer_since"] < SMALL.days - 2))
    day = np.ceil(people["buyer_since"][rows]).astype(int)
    jump = np.log(with_effect._hazard[rows, day] / with_effect._hazard[rows, day - 1])
    assert np.median(jump) > 0.6


def _inputs(cfg: DemoConfig):
    from demo.firmographics import draw_accounts
    from demo.latents import latents

    rng = np.random.default_rng(cfg.seed)
    acc = draw_accounts(rng, cfg)
    return acc, latents(rng, cfg, acc)["users"]
