"""Learned rules as a rule set (train.learned.rules): the flags are the rule language's, the YAML is a rules file."""
from __future__ import annotations

import numpy as np
import yaml

from rules.files import resolve_rules
from rules.language import RuleSet


def test_flags_match_the_rule_language_and_the_yaml_is_a_rules_file(world, learned, tmp_path):
    X, _, _ = world
    assert np.array_equal(learned.flags(X), learned.ruleset().any_rule(X).to_numpy())
    path = tmp_path / "learned_rules.yaml"
    path.write_text(learned.to_yaml())
    resolved = resolve_rules({"definitions": None, "file": str(path)}, None, conf_dir="conf")
    rules = RuleSet.from_config(resolved.definitions)
    assert rules.names == learned.names
    assert np.array_equal(rules.any_rule(X).to_numpy(), learned.flags(X))
    assert yaml.safe_load(path.read_text())["definitions"]["learned_1"]["description"] == learned.rules[
        "learned_1"]["description"]


def test_a_condition_on_a_column_that_is_not_an_identifier_is_a_rule_the_language_reads():
    from rules.language import RuleSet
    from train.learned.rules import Condition

    odd = "Employees (count, self-reported)"
    text = " and ".join(c.expression() for c in (Condition(odd, ">=", 20.0), Condition("plan: tier", "in", ("a",))))
    assert text == "`Employees (count, self-reported)` >= 20 and `plan: tier` in ['a']"
    rule = RuleSet.from_config({"learned_1": {"expression": text}}).rules[0]
    assert rule.features() == {odd, "plan: tier"}
