"""The learned definitions as rules: a condition (``feature op value``), a rule (their conjunction) and
the learned list, each readable (expression, plain English) and evaluated with the rule language's own
semantics (a comparison with a missing value is False), so a learned rule flags exactly what
:class:`rules.language.RuleSet` flags with its expression.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import yaml

from rules.language import RuleSet, quote
from features.spec import Column, FeatureSpec

from train.learned.wording import condition_words

COUNT_KINDS = ("count", "quantity")  # usage counts: only ">=" conditions
PREFIX = "learned_"


@dataclass(frozen=True)
class Condition:
    """``feature op value``: op is ``>=`` or ``<=`` (a number) or ``in`` / ``not in`` (a tuple of categories)."""

    feature: str
    op: str
    value: float | tuple[str, ...]

    def expression(self) -> str:
        """The condition in the rule language (``seats_used >= 5``, ``industry in ['saas']``)."""
        if self.op in ("in", "not in"):
            return f"{quote(self.feature)} {self.op} [{', '.join(repr(v) for v in self.value)}]"
        return f"{quote(self.feature)} {self.op} {_number(self.value)}"

    def mask(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Where the condition holds on feature arrays (:func:`columns_of`); missing values never do."""
        values = columns[self.feature]
        if self.op in ("in", "not in"):
            inside = pd.Series(values).isin(list(self.value)).to_numpy()
            # a missing value is in no list and "not in" none either: the rule language's missing-value rule
            return inside if self.op == "in" else ~inside & pd.notna(values)
        with np.errstate(invalid="ignore"):  # NaN compares False: the rule language's missing-value rule
            return values >= self.value if self.op == ">=" else values <= self.value

    def words(self, column: Column | None, labels: dict[str, str] | None = None) -> str:
        """The condition in plain English (:func:`train.learned.wording.condition_words`)."""
        return condition_words(self.feature, self.op, self.value, column, labels)


def _number(value: float) -> str:
    """A threshold as it reads in a rule: 100, 0.8, 12.5 (never 100.0)."""
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"


@dataclass(frozen=True)
class LearnedRule:
    """One learned rule and what it added on the rows it was learned from (greedy order)."""

    name: str
    conditions: tuple[Condition, ...]
    added: int = 0            # training rows it flagged that earlier rules had not
    added_converted: int = 0
    bound: float = 0.0        # Wilson lower bound of the added rows' conversion rate

    @property
    def expression(self) -> str:
        """The rule in the rule language: its conditions joined by ``and``."""
        return " and ".join(c.expression() for c in self.conditions)

    @property
    def signature(self) -> frozenset[tuple[str, str]]:
        """Which features it reads and in which direction: rules of one signature are the same idea."""
        return frozenset((c.feature, c.op) for c in self.conditions)

    def words(self, spec: FeatureSpec | None = None) -> str:
        """The rule in plain English (worded by the spec's columns when given)."""
        columns = {c.name: c for c in spec.columns} if spec is not None else {}
        labels = spec.labels if spec is not None else None
        return " and ".join(c.words(columns.get(c.feature), labels) for c in self.conditions)

    def mask(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Where every condition holds."""
        return np.logical_and.reduce([c.mask(columns) for c in self.conditions])


@dataclass(frozen=True)
class LearnedDefinitions:
    """The learned list: ``rules`` is accepted by :meth:`RuleSet.from_config` as it is."""

    learned: tuple[LearnedRule, ...]
    budget: float                  # accounts per snapshot the list may flag
    volume: float                  # accounts per snapshot it flags on the newest training snapshots
    spec: FeatureSpec | None = field(default=None, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        """The rules' names, in greedy order."""
        return [r.name for r in self.learned]

    @property
    def rules(self) -> dict[str, dict[str, str]]:
        """name -> {description (plain English), expression}."""
        return {r.name: {"description": r.words(self.spec), "expression": r.expression} for r in self.learned}

    @property
    def expressions(self) -> dict[str, str]:
        """name -> expression."""
        return {r.name: r.expression for r in self.learned}

    def ruleset(self) -> RuleSet:
        """The list as a rule set of the rule language."""
        return RuleSet.from_config(self.rules)

    def words(self) -> list[str]:
        """One plain-English line per rule."""
        return [f"{r.name}: {r.words(self.spec)}" for r in self.learned]

    def flags(self, frame: pd.DataFrame) -> np.ndarray:
        """True where any learned rule fires (the list as one definition)."""
        if not self.learned:
            return np.zeros(len(frame), bool)
        columns = columns_of(frame, {f for r in self.learned for f, _ in r.signature})
        return np.logical_or.reduce([r.mask(columns) for r in self.learned])

    def to_yaml(self) -> str:
        """A rules file ``python -m train rules.file=PATH`` reads (the learned list as hand rules)."""
        head = (f"# PQL definitions learned from the training snapshots under a budget of {self.budget:.0f} accounts\n"
                f"# per snapshot (they flag about {self.volume:.0f} on the newest training snapshots).\n"
                f"# Use them as hand rules: python -m train rules.file=learned_rules.yaml\n")
        body = yaml.safe_dump({"definitions": self.rules}, sort_keys=False, allow_unicode=True, width=120)
        return head + body


def columns_of(frame: pd.DataFrame, names: set[str] | Sequence[str]) -> dict[str, np.ndarray]:
    """Feature arrays as the rule language compares them: numbers as float (NaN missing), text as objects."""
    out = {}
    for name in names:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            out[name] = values.astype(object).to_numpy()
        else:
            out[name] = values.to_numpy(dtype="float64", na_value=np.nan)
    return out

