"""Pathological rule expressions end in one clear RuleError (exit 2), never MemoryError/RecursionError."""
from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from rules.language import MAX_DEPTH, MAX_EXPRESSION_CHARS, Rule, RuleError, RuleSet


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


# -- resource limits: running out of memory ends in one line, exit 1 ---------------------------------

def _raising_in(module: str, exc: BaseException):
    """A function that looks, to a traceback, as if it were defined in ``module``."""
    namespace = {"__name__": module, "exc": exc}
    exec("def build_features(*args):\n    raise exc\n", namespace)
    return namespace["build_features"]


@pytest.mark.parametrize("make_exc, start", [
    (lambda: MemoryError(), "error: out of memory in features.build.build_features; "),
    (lambda: MemoryError("Unable to allocate 7.45 GiB for an array"),
     "error: out of memory in features.build.build_features (Unable to allocate 7.45 GiB for an array); "),
    (lambda: __import__("duckdb").OutOfMemoryException("Out of Memory Error: failed to allocate data of size 1.2 GiB"),
     "error: DuckDB ran out of memory in features.build.build_features (Out of Memory Error: failed to allocate"),
])
def test_out_of_memory_is_one_line_naming_stage_and_setting(make_exc, start, capsys) -> None:
    from app.exits import exits_cleanly

    inner = _raising_in("features.build", make_exc())

    def main(cfg):
        inner(cfg)

    main.__module__ = "train.__main__"
    with pytest.raises(SystemExit) as info:
        exits_cleanly(main)({})
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1, err
    assert "snapshots.every_days" in err and "Traceback" not in err


def test_other_unexpected_errors_still_propagate() -> None:
    from app.exits import exits_cleanly

    def main(cfg):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        exits_cleanly(main)({})
