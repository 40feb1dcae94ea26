"""How a rule names a feature (rules.names): plain identifiers as they are, any other column name in
backticks; the backticked name is a feature like any other, and round-trips through the learned rules."""
from __future__ import annotations

import pandas as pd
import pytest

from rules.language import RuleSet
from rules.names import RuleError, quote, unquote

ODD = 'Employees (count, self-reported)'
QUOTES = 'Industry: "main"'


def test_only_names_that_are_not_identifiers_are_backticked():
    assert [quote(n) for n in ("seats", "plan_2", "if", "true", ODD)] == [
        "seats", "plan_2", "`if`", "`true`", f"`{ODD}`"]
    with pytest.raises(RuleError, match="backtick"):
        quote("a`b")


def test_a_placeholder_keeps_the_expression_s_length_so_error_columns_stay_right():
    source, names = unquote(f"`{ODD}` >= 5 and `x y` < 2")
    assert len(source) == len(f"`{ODD}` >= 5 and `x y` < 2") and sorted(names.values()) == sorted([ODD, "x y"])
    assert all(key.isidentifier() for key in names)


def test_a_backticked_column_is_evaluated_like_any_feature():
    rules = RuleSet.from_config({"big": {"expression": f"`{ODD}` >= 20 and events_7d >= 30"},
                                 "saas": {"expression": f"{quote(QUOTES)} in ['saas']"},
                                 "kw": {"expression": "`if` > 1"}})
    frame = pd.DataFrame({ODD: [10, 25, 30], "events_7d": [40, 40, 10], QUOTES: ["saas", "x", "saas"], "if": [2, 0, 5]})
    rules.validate(frame.columns, [QUOTES])
    assert rules.evaluate(frame).to_dict("list") == {"rule_big": [False, True, False], "rule_saas": [True, False, True],
                                                     "rule_kw": [True, False, True]}
    assert rules.rules[0].features() == {ODD, "events_7d"}


def test_mistakes_inside_backticks_are_still_one_line_naming_the_rule():
    with pytest.raises(RuleError, match="rule 'x': function calls not allowed"):
        RuleSet.from_config({"x": {"expression": f"`{ODD}`(3) >= 2"}})
    with pytest.raises(RuleError, match="empty backticks"):
        RuleSet.from_config({"x": {"expression": "`` >= 2"}})
    with pytest.raises(RuleError, match="unknown feature|not a feature|no feature"):
        RuleSet.from_config({"x": {"expression": "`nope (x)` >= 2"}}).validate(["seats"])
