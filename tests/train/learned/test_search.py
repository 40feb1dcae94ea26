"""Learning the list (train.learned.search): the readable rule behind the converters, the list's limits under
the budget, categories as ``in`` lists, round thresholds and the Wilson bound.
"""
from __future__ import annotations

import numpy as np
import pytest

from train import learned as D
from train.evaluate import rate_interval


def test_learns_the_readable_rule_behind_the_converters(learned, small_spec):
    first = learned.learned[0]
    assert first.signature == {("api_call_quantity_30d", ">="), ("seats_used_ratio", ">=")}
    # the tree put the threshold between observed values; the list reads the round number nearby
    values = {c.feature: c.value for c in first.conditions}
    assert values["api_call_quantity_30d"] == 100 and values["seats_used_ratio"] == 0.8
    assert first.expression == "api_call_quantity_30d >= 100 and seats_used_ratio >= 0.8"
    assert "at least 100" in first.words(small_spec) and "at least 80%" in first.words(small_spec)


def test_the_list_keeps_its_limits(world, learned, learned_config):
    X, y, snapshot = world
    assert 1 <= len(learned.learned) <= learned_config.max_rules
    for rule in learned.learned:
        assert len(rule.conditions) <= learned_config.max_conditions
        assert rule.added_converted >= learned_config.min_converters
        # usage counts are only ever lower bounds
        assert not any(c.op == "<=" for c in rule.conditions if c.feature in ("api_call_quantity_30d",
                                                                              "events_count_30d"))
    newest = np.isin(snapshot, np.unique(snapshot)[-4:])
    assert learned.volume <= learned.budget
    assert learned.flags(X)[newest].sum() / 4 == pytest.approx(learned.volume)


def test_a_tighter_budget_flags_fewer_accounts(world, small_spec, learned_config):
    X, y, snapshot = world
    small = D.learn(X, y, snapshot, small_spec, budget=10, config=learned_config)
    assert 0 < small.volume <= 10
    assert D.learn(X, y, snapshot, small_spec, budget=0.1, config=learned_config).learned == ()


def test_categories_become_in_lists(world, small_spec, learned_config):
    X, y, snapshot = world
    y = ((X["industry"] == "software").to_numpy() & (X["events_count_30d"] >= 30).to_numpy()).astype(int)
    out = D.learn(X, y, snapshot, small_spec, budget=200, config=learned_config)
    assert "industry in ['software']" in out.learned[0].expression
    assert np.array_equal(out.flags(X), out.ruleset().any_rule(X).to_numpy())


def test_round_values_and_the_bound():
    assert D.round_values(97)[0] == 100 and 95 in D.round_values(97)
    assert D.round_values(0.83)[0] == 0.8
    low, _ = rate_interval(7, 40)
    assert float(D.wilson_low(7, 40, 0.95)) == pytest.approx(low)
