"""Hand-defined PQL rules: safe parsing and vectorised evaluation of rule expressions.

Grammar (a whitelisted subset of Python expression syntax, parsed with ``ast``; nothing
is ever passed to ``eval``/``exec``/``compile``):

* feature names: ``task_created_count_30d``; a name that is not a plain identifier in backticks, as in
  pandas' ``query``: ```Employees (count, self-reported)` >= 50``; numbers ``50``, ``0.8``, ``-1``;
  strings ``'software'``
* booleans: ``true``/``false``/``True``/``False`` (reserved, never feature names).
  There is no ``None``/``null``: comparisons with missing values are simply False.
* arithmetic ``+ - * /`` and unary ``- +``; comparisons ``< <= > >= == !=`` (chains allowed:
  ``10 <= seats < 20``); membership ``industry in ['software', 'fintech']``, ``not in``
* logic ``and``, ``or``, ``not`` with Python precedence, and parentheses.

Examples::

    task_created_count_30d > 50 and teammate_invited_count_30d >= 10
    industry in ['software', 'fintech'] and employees >= 50
    (api_calls_30d + webhooks_30d) / seats > 10 or not plan == 'free'

Semantics: any comparison involving a missing value (NaN/None) is False, ``!=`` included;
``not`` then negates that False into True.  ``x / 0`` is missing.  A numeric or boolean feature
used on its own as a condition is true when non-zero and not missing.  Comparisons and
conditions are 0/1 in arithmetic, e.g. ``(a > 1) + (b > 1) + (c > 1) >= 2``.  Categorical
(``category``/``str``) features allow only ``== != in``/``not in`` against strings.
"""
from __future__ import annotations

import ast
import difflib
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from rules.names import BOOLS as _BOOLS, RuleError, quote, unquote as _unquote

__all__ = ["Rule", "RuleError", "RuleSet", "quote"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ORDER = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_EQ = {ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: None}
_CONDITION_NODES = (ast.Compare, ast.BoolOp, ast.Name)
_FORBIDDEN = {ast.Call: "function calls", ast.Attribute: "attribute access", ast.Subscript: "indexing",
              ast.List: "lists (except after 'in'/'not in')", ast.Tuple: "tuples (except after 'in'/'not in')",
              ast.BinOp: "this operator (use + - * /)", ast.UnaryOp: "this operator (use not, -, +)"}
# A lone "=" (not part of ==, <=, >=, !=, :=) is almost always a mistyped "==".
_SINGLE_EQ = re.compile(r"(?<![<>=!:])=(?!=)")
# Limits far above any hand-written rule, checked before the parser and the recursive checks can
# exhaust memory or the stack: length first (before ``ast.parse``), then nesting depth and node count.
MAX_EXPRESSION_CHARS = 10_000
MAX_DEPTH = 100
MAX_NODES = 5_000


def _num_literal(node: ast.AST) -> bool:
    """True for ``5``, ``-5``, ``+0.5`` (the only things allowed inside ``in`` lists besides strings)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float, bool)


def _literal(node: ast.AST) -> object:
    if isinstance(node, ast.UnaryOp):
        value = _literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    return node.value if isinstance(node, ast.Constant) else _BOOLS[node.id]  # type: ignore[attr-defined]


def _is_condition(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    return isinstance(node, _CONDITION_NODES)


@dataclass(frozen=True)
class Rule:
    """One named rule, parsed eagerly on construction (errors surface at config load)."""

    name: str
    description: str
    expression: str
    _tree: ast.expr = field(init=False, repr=False, compare=False)
    _features: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise RuleError(f"rule {self.name!r}: name must be snake_case matching {_NAME_RE.pattern}")
        if not isinstance(self.expression, str) or not self.expression.strip():
            raise RuleError(f"rule '{self.name}': expression must be a non-empty string")
        if len(self.expression) > MAX_EXPRESSION_CHARS:
            raise RuleError(f"rule '{self.name}': expression is {len(self.expression):,} characters long; "
                            f"at most {MAX_EXPRESSION_CHARS:,} are allowed (split it into several rules)")
        try:
            source, quoted = _unquote(self.expression.strip())
            tree = ast.parse(source, mode="eval").body
        except (RecursionError, MemoryError):
            raise RuleError(f"rule '{self.name}': expression is nested too deeply to parse "
                            f"(at most {MAX_DEPTH} levels are allowed)") from None
        except SyntaxError as exc:
            if "too many nested" in str(exc.msg):
                raise RuleError(f"rule '{self.name}': expression is nested too deeply ({exc.msg}; "
                                f"at most {MAX_DEPTH} levels are allowed)") from None
            hint = _syntax_hint(self.expression)
            where = f" (column {exc.offset - 1})" if exc.offset else ""
            raise RuleError(f"rule '{self.name}': invalid syntax{hint}{where}: {self.expression!r}") from None
        object.__setattr__(self, "_tree", tree)
        self._check_size(tree)
        self._check_syntax(tree)
        for node in ast.walk(tree):  # backticked names are feature names like any other from here on
            if isinstance(node, ast.Name) and node.id in quoted:
                node.id = quoted[node.id]
        if not _is_condition(tree):
            self._fail(tree, "expression must be a condition (comparison, and/or/not, or a feature)")
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - _BOOLS.keys()
        object.__setattr__(self, "_features", frozenset(names))

    def _fail(self, node: ast.AST, message: str) -> NoReturn:
        fragment = ast.get_source_segment(self.expression.strip(), node) or ast.unparse(node)
        raise RuleError(f"rule '{self.name}': {message}: '{fragment}' (column {node.col_offset})")

    def _check_size(self, tree: ast.AST) -> None:
        """Depth and node count, measured without recursion (the later checks and evaluation recurse)."""
        nodes, stack = 0, [(tree, 1)]
        while stack:
            node, depth = stack.pop()
            nodes += 1
            if depth > MAX_DEPTH:
                raise RuleError(f"rule '{self.name}': expression is nested more than {MAX_DEPTH} levels deep "
                                f"(simplify it or split it into several rules)")
            if nodes > MAX_NODES:
                raise RuleError(f"rule '{self.name}': expression has more than {MAX_NODES:,} terms and "
                                f"operators (split it into several rules)")
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def _check_syntax(self, node: ast.AST) -> None:
        """Whitelist walk: reject anything that is not part of the grammar."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                if not _is_condition(value):
                    self._fail(value, f"'{type(node.op).__name__.lower()}' needs conditions on both sides")
                self._check_syntax(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            if isinstance(node.op, ast.Not) and not _is_condition(node.operand):
                self._fail(node.operand, "'not' needs a condition")
            self._check_syntax(node.operand)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            self._check_syntax(node.left)
            self._check_syntax(node.right)
        elif isinstance(node, ast.Compare):
            self._check_syntax(node.left)
            for i, (op, comp) in enumerate(zip(node.ops, node.comparators)):
                if isinstance(op, (ast.In, ast.NotIn)):
                    # Lists are only meaningful as the right-hand side of the last membership test.
                    if not isinstance(comp, (ast.List, ast.Tuple)) or i != len(node.ops) - 1:
                        self._fail(comp, "'in'/'not in' needs a literal list on the right, e.g. ['a', 'b']")
                    kinds = set()
                    for elt in comp.elts:
                        if isinstance(elt, ast.Constant) and type(elt.value) is str:
                            kinds.add("str")
                        elif _num_literal(elt):
                            kinds.add("num")
                        else:
                            self._fail(elt, "list items must be numbers or strings")
                    if len(kinds) > 1:
                        self._fail(comp, "list mixes numbers and strings")
                elif type(op) in _ORDER or type(op) in _EQ:
                    self._check_syntax(comp)
                else:  # is / is not
                    self._fail(node, "operator not allowed (use == or !=)")
        elif isinstance(node, ast.Name):
            if node.id in ("None", "null"):
                self._fail(node, "no None/null: comparisons with missing values are already False")
        elif isinstance(node, ast.Constant):
            if node.value is None:
                self._fail(node, "no None/null: comparisons with missing values are already False")
            if type(node.value) not in (int, float, str, bool):
                self._fail(node, "only numbers, strings and true/false are allowed")
        else:
            what = _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions")
            self._fail(node, f"{what} not allowed in rules")

    def features(self) -> set[str]:
        """Feature names referenced by the expression."""
        return set(self._features)

    def _type_errors(self, kinds: Mapping[str, str]) -> list[str]:
        """Type errors given feature kinds ('num' or 'str'); empty list when consistent."""
        try:
            self._kind(self._tree, kinds)
        except RuleError as exc:
            return [str(exc)]
        return []

    def _kind(self, node: ast.AST, kinds: Mapping[str, str]) -> str:
        """Static type of a node, 'num' (numbers, booleans) or 'str' (strings, categoricals)."""
        if isinstance(node, ast.Constant):
            return "str" if isinstance(node.value, str) else "num"
        if isinstance(node, ast.Name):
            return "num" if node.id in _BOOLS else kinds.get(node.id, "num")
        if isinstance(node, ast.Compare):
            left = node.left
            for op, comp in zip(node.ops, node.comparators):
                lk = self._kind(left, kinds)
                if isinstance(op, (ast.In, ast.NotIn)):
                    strs = {isinstance(e, ast.Constant) and type(e.value) is str for e in comp.elts}
                    rk = ("str" if True in strs else "num") if strs else lk  # empty list matches anything
                else:
                    rk = self._kind(comp, kinds)
                    if type(op) in _ORDER and "str" in (lk, rk):
                        self._fail(node, "categorical/string values allow only ==, !=, in, not in")
                if lk != rk:
                    self._fail(node, "cannot compare a categorical/string with a number")
                left = comp
            return "num"
        children = node.values if isinstance(node, ast.BoolOp) else (
            [node.operand] if isinstance(node, ast.UnaryOp) else [node.left, node.right])  # type: ignore[attr-defined]
        for child in children:
            if self._kind(child, kinds) == "str":
                logical = isinstance(node, ast.BoolOp) or isinstance(getattr(node, "op", None), ast.Not)
                what = "condition from" if logical else "arithmetic on"
                self._fail(child, f"{what} a categorical/string value is not allowed")
        return "num"

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean Series aligned with ``frame.index`` (never missing)."""
        missing = sorted(self._features - set(frame.columns))
        if missing:
            raise RuleError("; ".join(_unknown(self.name, m, frame.columns) for m in missing))
        kinds = {c: _frame_kind(frame[c]) for c in self._features}
        errors = self._type_errors(kinds)
        if errors:
            raise RuleError(errors[0])
        columns = {c: _column_array(frame[c], kinds[c]) for c in self._features}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = _truthy(_eval(self._tree, columns, len(frame)))
        return pd.Series(out, index=frame.index, name=f"rule_{self.name}", dtype=bool)


def _syntax_hint(expression: str) -> str:
    """What a likely typo should have been: '=>' and '=<' are '>=' and '<=', a lone '=' is '=='."""
    reversed_op = re.search(r"=\s*([<>])(?!=)", expression)
    if reversed_op:
        return f" (did you mean '{reversed_op.group(1)}='?)"
    return " (use '==' to compare, not '=')" if _SINGLE_EQ.search(expression) else ""


def check_keys(name: Any, spec: Any) -> None:
    """Raise a :class:`RuleError` unless ``spec`` is a mapping of 'expression' and an optional 'description';
    an unknown key is named with the known key it most resembles ('expresion' -> 'expression')."""
    if not isinstance(spec, Mapping):
        raise RuleError(f"rule '{name}': expected a mapping with an 'expression' key (and an optional 'description')")
    known = ("description", "expression")
    extra = sorted(str(k) for k in set(spec) - set(known))
    hints = [f"'{k}'" + "".join(f" (did you mean '{c}'?)" for c in difflib.get_close_matches(k, known, n=1))
             for k in extra]
    if hints:
        raise RuleError(f"rule '{name}': unknown key{'s' * (len(hints) > 1)} {', '.join(hints)}; a rule has "
                        f"'expression' and an optional 'description'")
    if "expression" not in spec:
        raise RuleError(f"rule '{name}': expected a mapping with an 'expression' key")


def _unknown(rule: str, name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, [str(k) for k in known], n=3)
    hint = " — did you mean " + ", ".join(f"'{c}'" for c in close) + "?" if close else ""
    return f"rule '{rule}': unknown feature '{name}'{hint}"


def _frame_kind(series: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
    return "num" if numeric and not isinstance(series.dtype, pd.CategoricalDtype) else "str"


def _column_array(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "num":  # nullable Int64/boolean NA become NaN so one missing-value rule applies
        return series.to_numpy(dtype="float64", na_value=np.nan)
    values = series.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    return values


def _notna(values: np.ndarray) -> np.ndarray:
    if values.dtype == bool:
        return np.ones(len(values), dtype=bool)
    return ~np.isnan(values) if values.dtype.kind == "f" else pd.notna(values)


def _truthy(values: np.ndarray) -> np.ndarray:
    if values.dtype == bool:
        return values
    return (values != 0) & ~np.isnan(values)


def _eval(node: ast.AST, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Evaluate a type-checked tree to an array of length ``n``."""
    if isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and node.id in _BOOLS):
        value = _literal(node)
        return np.full(n, value, dtype=object if isinstance(value, str) else float)
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.BoolOp):
        parts = [_truthy(_eval(v, columns, n)) for v in node.values]
        return np.logical_and.reduce(parts) if isinstance(node.op, ast.And) else np.logical_or.reduce(parts)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, columns, n)
        if isinstance(node.op, ast.Not):
            return ~_truthy(value)
        return -value.astype(float) if isinstance(node.op, ast.USub) else value.astype(float)
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, columns, n).astype(float)
        right = _eval(node.right, columns, n).astype(float)
        if isinstance(node.op, ast.Div):
            return np.where(right == 0, np.nan, left / right)
        return _ARITH[type(node.op)](left, right)
    assert isinstance(node, ast.Compare)
    result = np.ones(n, dtype=bool)
    left = _eval(node.left, columns, n)
    for op, comp in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)):
            found = pd.Series(left, dtype=left.dtype).isin([_literal(e) for e in comp.elts]).to_numpy()
            result &= _notna(left) & (found if isinstance(op, ast.In) else ~found)
            continue
        right = _eval(comp, columns, n)
        func = _ORDER.get(type(op)) or _EQ[type(op)]
        result &= np.asarray(func(left, right), dtype=bool) & _notna(left) & _notna(right)
        left = right
    return result


@dataclass(frozen=True)
class RuleSet:
    """An ordered set of uniquely named rules.

    >>> rules = RuleSet.from_config({"big": {"description": "Big team", "expression": "seats >= 10"},
    ...                              "fit": {"description": "", "expression": "industry in ['saas']"}})
    >>> frame = pd.DataFrame({"seats": [12, 3, None], "industry": ["saas", "retail", "saas"]})
    >>> rules.evaluate(frame)
       rule_big  rule_fit
    0      True      True
    1     False     False
    2     False      True
    >>> rules.any_rule(frame).tolist()
    [True, False, True]
    """

    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise RuleError(f"rule '{rule.name}': duplicate rule name")
            seen.add(rule.name)

    @classmethod
    def from_config(cls, definitions: Mapping[str, Mapping[str, str]] | None) -> RuleSet:
        """Build from ``name -> {description, expression}`` (dict or OmegaConf DictConfig)."""
        rules = []
        for name, spec in (definitions or {}).items():
            check_keys(name, spec)
            rules.append(Rule(str(name), str(spec.get("description") or ""), spec["expression"]))
        return cls(tuple(rules))

    @property
    def names(self) -> list[str]:
        """The rules' names, in file order."""
        return [rule.name for rule in self.rules]

    def validate(self, feature_names: Iterable[str], categorical: Iterable[str] = ()) -> None:
        """Check every rule against the known features; all problems are reported in one error."""
        known, categorical = list(feature_names), set(categorical)
        known_set = set(known) | categorical
        errors = [_unknown(r.name, f, known_set) for r in self.rules for f in sorted(r.features() - known_set)]
        kinds = {f: "str" for f in categorical}
        if not errors:  # type errors only make sense once every name resolves
            errors = [e for r in self.rules for e in r._type_errors(kinds)]
        if errors:
            raise RuleError("\n".join(errors))

    def evaluate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One boolean column ``rule_<name>`` per rule, indexed like ``frame``."""
        return pd.DataFrame({f"rule_{r.name}": r.evaluate(frame) for r in self.rules}, index=frame.index)

    def any_rule(self, frame: pd.DataFrame) -> pd.Series:
        """True where at least one rule fires (all False for an empty set)."""
        return self.evaluate(frame).any(axis=1).astype(bool).rename("any_rule")

    def to_dict(self) -> dict[str, dict[str, str]]:
        """JSON-serialisable mapping that round-trips through :meth:`from_config`."""
        return {r.name: {"description": r.description, "expression": r.expression} for r in self.rules}
