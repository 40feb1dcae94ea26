"""The rule language (rules.language): comparisons, membership, arithmetic, logic and missing values as
pandas gives them; forbidden constructs and type errors refused; pathological expressions end in one clear
RuleError (exit 2), never MemoryError/RecursionError.
"""
from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import rules.language as rules_module
from features.errors import ConfigError
from rules.language import MAX_DEPTH, MAX_EXPRESSION_CHARS, Rule, RuleError, RuleSet


NAN = float("nan")


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 5.0, 10.0, NAN, 0.0],
            "y": [0, 2, 4, 6, 8],
            "industry": pd.Categorical(["software", "fintech", "retail", None, "software"]),
            "plan": pd.array(["free", "pro", None, "pro", "free"], dtype="str"),
            "flag": [True, False, True, False, True],
        },
        index=[10, 11, 12, 13, 14],
    )


def ev(expression: str, frame: pd.DataFrame) -> list[bool]:
    result = Rule("r", "", expression).evaluate(frame)
    assert result.dtype == bool and result.index.equals(frame.index)
    return result.tolist()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("x > 5", [False, False, True, False, False]),
        ("x >= 5", [False, True, True, False, False]),
        ("x < 5", [True, False, False, False, True]),
        ("x <= 5", [True, True, False, False, True]),
        ("x == 5", [False, True, False, False, False]),
        ("x != 5", [True, False, True, False, True]),  # NaN != 5 is False
        ("1 <= x < 10", [True, True, False, False, False]),
        ("0 < y <= 4 < 5", [False, True, True, False, False]),
        ("x > -1 and +y > 0", [False, True, True, False, True]),
        ("flag", [True, False, True, False, True]),
        ("flag == true", [True, False, True, False, True]),
        ("flag == False", [False, True, False, True, False]),
        ("x", [True, True, True, False, False]),  # non-zero and not missing
        ("true", [True] * 5),
    ],
)
def test_comparisons(frame: pd.DataFrame, expression: str, expected: list[bool]) -> None:
    assert ev(expression, frame) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("industry in ['software', 'fintech']", [True, True, False, False, True]),
        ("industry not in ['software', 'fintech']", [False, False, True, False, False]),  # missing -> False
        ("industry == 'retail'", [False, False, True, False, False]),
        ("industry != 'retail'", [True, True, False, False, True]),
        ("plan in ('pro',)", [False, True, False, True, False]),
        ("plan not in ['pro']", [True, False, False, False, True]),
        ("plan == 'free'", [True, False, False, False, True]),
        ("plan == industry", [False] * 5),
        ("y in [2, 8]", [False, True, False, False, True]),
        ("x not in [1, -0.5]", [False, True, True, False, True]),
        ("x in []", [False] * 5),
    ],
)
def test_membership_and_categoricals(frame: pd.DataFrame, expression: str, expected: list[bool]) -> None:
    assert ev(expression, frame) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("x + y > 5", [False, True, True, False, True]),
        ("y - x == 8", [False, False, False, False, True]),
        ("x * 2 >= 10", [False, True, True, False, False]),
        ("y / x > 0.3", [False, True, True, False, False]),  # 0/1, 2/5, 4/10, 6/NaN, 8/0
        ("y / x != 1", [True, True, True, False, False]),  # division by zero is missing
        ("not y / x > 100", [True, True, True, True, True]),
        ("(x > 1) + (y > 1) + flag >= 2", [False, True, True, False, True]),
        ("-x < -4", [False, True, True, False, False]),
    ],
)
def test_arithmetic(frame: pd.DataFrame, expression: str, expected: list[bool]) -> None:
    assert ev(expression, frame) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("not x > 5", [True, True, False, True, True]),  # not(NaN > 5) is True
        ("x > 5 or y > 4 and flag", [False, False, True, False, True]),  # and binds tighter
        ("(x > 5 or y > 4) and flag", [False, False, True, False, True]),
        ("(x > 5 or y > 2) and not flag", [False, False, False, True, False]),
        ("not (x > 5 or y > 2)", [True, True, False, False, False]),
        ("not not flag", [True, False, True, False, True]),
    ],
)
def test_logic_and_missing(frame: pd.DataFrame, expression: str, expected: list[bool]) -> None:
    assert ev(expression, frame) == expected


def test_nullable_dtypes() -> None:
    frame = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "b": pd.array([True, None, False])})
    assert ev("n >= 1", frame) == [True, False, True]
    assert ev("n != 1", frame) == [False, False, True]
    assert ev("b or n > 2", frame) == [True, False, True]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("__import__('os').system('x') > 0", "__import__('os').system('x')"),
        ("x.real > 1", "x.real"),
        ("x[0] > 1", "x[0]"),
        ("(lambda: 1)() > 0", "(lambda: 1)()"),
        ("(lambda: 1) > 0", "lambda: 1"),
        ("x ** 2 > 4", "x ** 2"),
        ("x // 2 > 4", "x // 2"),
        ("x & 1", "x & 1"),
        ("~x > 1", "~x"),
        ("[a for a in x] == 1", "[a for a in x]"),
        ("f'{x}' == 'a'", "f'{x}'"),
        ("(y := 3) > 1", "y := 3"),
        ("x if y else z", "x if y else z"),
        ("x is None", "x is None"),
        ("x == None", "None"),
        ("x == null", "null"),
        ("x in y", "y"),
        ("x == [1, 2]", "[1, 2]"),
        ("x in [1, 'a']", "[1, 'a']"),
        ("x in [y]", "y"),
        ("x + 1", "x + 1"),
        ("'a'", "'a'"),
        ("x > 1 and y", None),
        ("x > 1 and y + 1", "y + 1"),
        ("not 5", "5"),
    ],
)
def test_forbidden_constructs(expression: str, fragment: str | None) -> None:
    if fragment is None:  # allowed: a bare feature is a valid condition
        Rule("ok", "", expression)
        return
    with pytest.raises(RuleError) as info:
        Rule("bad_rule", "", expression)
    assert "rule 'bad_rule'" in str(info.value)
    assert f"'{fragment}'" in str(info.value)


def test_syntax_errors() -> None:
    with pytest.raises(RuleError, match=r"rule 'broken'.*invalid syntax"):
        Rule("broken", "", "x > > 1")
    with pytest.raises(RuleError, match=r"rule 'eq'.*use '==' to compare"):
        Rule("eq", "", "plan = 'pro'")
    for typo, meant in (("seats => 10", ">="), ("seats =< 10", "<="), ("seats = > 10", ">=")):
        with pytest.raises(RuleError, match=rf"rule 'ge'.*did you mean '{meant}'") as info:
            Rule("ge", "", typo)
        assert "use '=='" not in str(info.value)
    for empty in ("", "   ", None):
        with pytest.raises(RuleError, match="rule 'empty'.*non-empty"):
            Rule("empty", "", empty)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Active", "1rule", "has-dash", "", "with space"])
def test_invalid_rule_names(name: str) -> None:
    with pytest.raises(RuleError, match="snake_case"):
        Rule(name, "", "x > 1")


def test_duplicate_and_bad_config() -> None:
    with pytest.raises(RuleError, match="rule 'a': duplicate"):
        RuleSet((Rule("a", "", "x > 1"), Rule("a", "", "x > 2")))
    with pytest.raises(RuleError, match="rule 'a': expected a mapping"):
        RuleSet.from_config({"a": "x > 1"})  # type: ignore[dict-item]
    with pytest.raises(RuleError, match="rule 'a': unknown key 'expresion' \\(did you mean 'expression'\\?\\)"):
        RuleSet.from_config({"a": {"expresion": "x", "expression": "x > 1"}})
    with pytest.raises(RuleError, match="rule 'b'.*invalid syntax"):
        RuleSet.from_config({"a": {"expression": "x > 1"}, "b": {"expression": "x >"}})


def test_features_and_names() -> None:
    rule = Rule("r", "", "a > 1 and b in ['x'] or not (c / d == true) and False")
    assert rule.features() == {"a", "b", "c", "d"}
    assert RuleSet.from_config(None).names == [] and RuleSet.from_config({}).rules == ()


def test_a_bad_rule_is_a_config_error_the_commands_report_in_one_line(capsys) -> None:
    from app.exits import exits_cleanly
    from features.errors import ConfigError

    def task(cfg):
        RuleSet.from_config({"broken": {"expression": "x > > 1"}})

    with pytest.raises(ValueError) as info:  # existing callers catch ValueError
        task(None)
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2
    with pytest.raises(SystemExit) as exit_info:
        exits_cleanly(task)(None)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: rule 'broken': invalid syntax (column 4): 'x > > 1'\n" and "Traceback" not in err


CONFIG = {
    "active_team": {
        "description": "More than 50 tasks and 10 teammates invited in 30 days",
        "expression": "task_created_count_30d > 50 and teammate_invited_count_30d >= 10",
    },
    "good_fit": {"description": "Fit", "expression": "industry in ['software', 'fintech'] and employees >= 50"},
    "seats_near_limit": {"description": "Seats", "expression": "seats_used_ratio >= 0.8"},
}


FEATURES = ["task_created_count_30d", "teammate_invited_count_30d", "employees", "seats_used_ratio", "industry"]


def test_validate_ok_and_unknown_features() -> None:
    RuleSet.from_config(CONFIG).validate(FEATURES, categorical=["industry"])
    known = ["task_created_count_30d", "tasks_count_30d", "employees", "industry", "seats_used_ratio"]
    with pytest.raises(RuleError) as info:
        RuleSet.from_config(CONFIG | {"x": {"expression": "task_count_30d > 1 and zzz_qqq > 2"}}).validate(known)
    message = str(info.value)
    assert "rule 'active_team': unknown feature 'teammate_invited_count_30d'" in message
    assert (
        "rule 'x': unknown feature 'task_count_30d' — did you mean 'task_created_count_30d', 'tasks_count_30d'?"
        in message
        or "rule 'x': unknown feature 'task_count_30d' — did you mean 'tasks_count_30d', 'task_created_count_30d'?"
        in message
    )
    assert "rule 'x': unknown feature 'zzz_qqq'\n" in message + "\n"  # no suggestions when nothing is close


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("industry > 'a'", "only ==, !=, in, not in"),
        ("industry >= 3", "only ==, !=, in, not in"),
        ("industry == 3", "cannot compare"),
        ("industry in [1, 2]", "cannot compare"),
        ("employees == 'fifty'", "cannot compare"),
        ("employees in ['a']", "cannot compare"),
        ("industry + 1 > 2", "arithmetic on a categorical"),
        ("industry and employees > 1", "condition from a categorical"),
        ("not industry", "condition from a categorical"),
        ("-industry < 1", "arithmetic on a categorical"),
    ],
)
def test_type_errors(expression: str, match: str) -> None:
    rule_set = RuleSet.from_config({"typed": {"expression": expression}})
    with pytest.raises(RuleError, match=f"rule 'typed'.*{match}"):
        rule_set.validate(FEATURES, categorical=["industry"])
    frame = pd.DataFrame({"industry": pd.Categorical(["a"]), "employees": [3]})
    with pytest.raises(RuleError, match=f"rule 'typed'.*{match}"):  # dtypes known at evaluation too
        rule_set.evaluate(frame)


def test_evaluate_missing_column_names_rule() -> None:
    with pytest.raises(RuleError, match="rule 'r': unknown feature 'emploees' — did you mean 'employees'"):
        Rule("r", "", "emploees > 1").evaluate(pd.DataFrame({"employees": [1]}))


def test_ruleset_evaluate_any_rule_and_round_trip() -> None:
    rule_set = RuleSet.from_config(CONFIG)
    frame = pd.DataFrame(
        {
            "task_created_count_30d": [60, 60, 0, NAN],
            "teammate_invited_count_30d": [10, 9, 0, 20],
            "industry": pd.Categorical(["software", "retail", "fintech", None]),
            "employees": [10, 100, 50, 500],
            "seats_used_ratio": [0.1, 0.9, NAN, 0.2],
            "unused": [1, 2, 3, 4],
        },
        index=pd.Index(["a", "b", "c", "d"], name="account"),
    )
    result = rule_set.evaluate(frame)
    assert list(result.columns) == ["rule_active_team", "rule_good_fit", "rule_seats_near_limit"]
    assert result.index.equals(frame.index) and result.dtypes.map(pd.api.types.is_bool_dtype).all()
    assert result.to_dict("list") == {
        "rule_active_team": [True, False, False, False],
        "rule_good_fit": [False, False, True, False],
        "rule_seats_near_limit": [False, True, False, False],
    }
    assert rule_set.any_rule(frame).tolist() == [True, True, True, False]
    assert RuleSet(()).any_rule(frame).tolist() == [False] * 4
    assert RuleSet(()).evaluate(frame).shape == (4, 0)
    payload = json.loads(json.dumps(rule_set.to_dict()))
    assert payload == CONFIG and RuleSet.from_config(payload) == rule_set
    assert rule_set.names == list(CONFIG)


def test_from_omegaconf() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({"definitions": CONFIG})
    assert RuleSet.from_config(cfg.definitions) == RuleSet.from_config(CONFIG)


def test_module_doctests() -> None:
    assert doctest.testmod(rules_module).failed == 0


def test_empty_frame() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype=float)})
    assert Rule("r", "", "x / 0 > 1 or not x").evaluate(frame).tolist() == []


_values = st.one_of(st.floats(-1e6, 1e6), st.just(NAN), st.integers(-1000, 1000).map(float))


_thresholds = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(_values, _values), min_size=0, max_size=30),
    a=_thresholds,
    b=_thresholds,
)
def test_property_matches_pandas(data: list[tuple[float, float]], a: float, b: float) -> None:
    frame = pd.DataFrame(data, columns=["x", "y"], dtype=float)
    assert not (isinstance(a, float) and math.isnan(a))
    got = Rule("prop", "", f"x > {a!r} and y <= {b!r}").evaluate(frame)
    expected = (frame["x"] > a) & (frame["y"] <= b)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy(dtype=bool))


@pytest.mark.parametrize("expression, words", [
    ("not " * 10_000 + "a > 1", "characters long"),          # 40k chars: refused before parsing
    (" + ".join(["a"] * 100_000) + " > 1", "characters long"),  # a 100k-term expression
    ("a > 1 and " + "b" * 1_000_000 + " > 1", "characters long"),  # 1 MB
    ("not " * 2_000 + "a > 1", "nested"),                    # short enough, far too deep
    ("-" * 3_000 + "a > 1", "nested"),                       # the parser itself runs out of stack
    ("(" * 300 + "a" + ")" * 300 + " > 1", "nested"),        # CPython's parenthesis limit
    (" + ".join(["a"] * 1_500) + " > 1", "nested"),          # left-associative chain: depth 1,500
    (" or ".join(["a<b"] * 1_400), "terms"),                 # flat and under 10k chars, but 5,600 nodes
])
def test_pathological_expressions_are_refused_clearly(expression: str, words: str) -> None:
    with pytest.raises(RuleError) as info:
        Rule("huge", "", expression)
    message = str(info.value)
    assert message.startswith("rule 'huge': ") and words in message and "\n" not in message
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


def test_limits_leave_room_for_real_rules() -> None:
    deep = "not " * (MAX_DEPTH - 10) + "a > 1"
    wide = " or ".join(f"a >= {i}" for i in range(300))
    rules = RuleSet.from_config({"deep": {"expression": deep}, "wide": {"expression": wide}})
    flags = rules.evaluate(pd.DataFrame({"a": [0.0, 5.0]}))
    assert flags["rule_deep"].tolist() == [False, True] and flags["rule_wide"].tolist() == [True, True]
    assert len(wide) < MAX_EXPRESSION_CHARS


def test_length_limit_is_checked_before_parsing(monkeypatch) -> None:
    import ast

    def boom(*args, **kwargs):
        raise AssertionError("ast.parse must not see an over-long expression")

    monkeypatch.setattr(ast, "parse", boom)
    with pytest.raises(RuleError, match="characters long"):
        Rule("long", "", "a > 1 or " * 2_000 + "a > 1")
