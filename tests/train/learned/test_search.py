"""Learning the list (train.learned.search): the readable rule behind the converters, the list's limits under
the budget, categories as ``in`` lists, round thresholds and the Wilson bound.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
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


def _learn(X, y, snapshot, spec, **config):
    from train.config import LearnedConfig

    return D.learn(X, y, snapshot, spec, budget=60, config=LearnedConfig(trees=10, **config))


def test_a_category_condition_names_a_handful_of_values_or_not_in_the_few_left_out(id_world):
    """Issue 19: 23 country codes of which 20 convert read as "not in" the few left out, never an in-list of 9."""
    X, y, snapshot, spec, _ = id_world
    out = _learn(X, y, snapshot, spec)
    countries = [c for r in out.learned for c in r.conditions if c.feature == "country_code"]
    assert countries and all(len(c.value) <= 5 for c in countries)
    assert any(c.op == "not in" and {"JP", "BR", "MX"} <= set(c.value) for c in countries)
    assert "any but" in out.learned[0].words(spec)
    assert np.array_equal(out.flags(X), out.ruleset().any_rule(X).to_numpy())  # "not in" as the language reads it
    fewer = _learn(X, y, snapshot, spec, max_values=2)  # learned.max_values
    assert all(len(c.value) <= 2 for r in fewer.learned for c in r.conditions if c.op in ("in", "not in"))


def test_identifier_columns_and_other_are_never_a_condition(id_world):
    """Issue 19: converters on 11 of 500 hex landing pages give no 'landing_page_id in [11 hex ids]'."""
    X, _, snapshot, spec, y_pages = id_world
    out = _learn(X, y_pages, snapshot, spec)
    assert out.learned
    text = " ".join(r.expression + r.words(spec) for r in out.learned)
    assert "landing_page_id" not in text and "(other)" not in text


def _state(X, y, **config):
    from train.config import LearnedConfig
    from train.learned.search import _State

    return _State(D.columns_of(X, list(X.columns)), np.asarray(y), np.ones(len(X), bool), float(len(X)),
                  LearnedConfig(**config), base=float(np.mean(y)))


def test_near_duplicate_rules_are_merged_into_the_more_precise():
    from train.learned.search import _merged

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 1000, 5000).round(1), "b": rng.integers(0, 10, 5000).astype(float)})
    y = (X["a"] >= 600).to_numpy().astype(int)
    rules = [(D.Condition("a", ">=", 580.0), D.Condition("b", ">=", 5.0)),
             (D.Condition("a", ">=", 600.0), D.Condition("b", ">=", 5.0)),  # flags 97% of the first's: merged
             (D.Condition("a", ">=", 900.0),)]
    assert _merged(rules, _state(X, y)) == rules[1:]


def test_a_threshold_near_one_an_earlier_rule_uses_is_that_one():
    """No list says ``>= 140`` and ``>= 134.1`` of one feature."""
    from train.learned.search import _rounded

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 200, 5000).round(1), "b": rng.integers(0, 10, 5000).astype(float)})
    y = ((X["a"] >= 134.1) & (X["b"] >= 5)).to_numpy().astype(int)
    state = _state(X, y)
    state.chosen.append((D.Condition("a", ">=", 140.0), D.Condition("b", "<=", 2.0)))
    rule = (D.Condition("a", ">=", 134.1), D.Condition("b", ">=", 5.0))
    judged = state.judge(rule, np.zeros(len(X), bool))
    assert _rounded(rule, state, np.zeros(len(X), bool), judged[0])[0] == D.Condition("a", ">=", 140.0)


def test_a_threshold_is_rounded_when_that_barely_changes_what_it_flags():
    """134.1 reads 130 or 135 when that changes at most 2 % of the flags, even at no tolerance of the bound."""
    from train.learned.search import _rounded

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 1000, 10_000).round(1)})
    y = (X["a"] >= 134.1).to_numpy().astype(int)
    state = _state(X, y, round_tolerance=0.0)
    rule = (D.Condition("a", ">=", 134.1),)
    judged = state.judge(rule, np.zeros(len(X), bool))
    assert _rounded(rule, state, np.zeros(len(X), bool), judged[0])[0].value in (130.0, 135.0)
