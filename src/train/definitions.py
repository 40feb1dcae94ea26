"""Learned PQL definitions: a short list of readable rules chosen under the sales team's volume budget.

A hand-written PQL rule is a bet a person made; here the same kind of rule is *learned* from the training
snapshots, so that sales gets a definition it can read and argue with, and the model has a fair rival:

* **candidates** come from shallow scikit-learn trees (a small random forest of depth ``max_conditions``
  and, at every step, one tree fitted on the accounts not flagged yet): every node's path is a conjunction
  of at most ``max_conditions`` conditions. Fit categoricals enter the trees ordered by their conversion
  rate, so a split reads back as ``industry in [...]``. Usage counts (kinds ``count`` and ``quantity``) are
  only ever used as ``>=`` conditions: "at most 3 API calls" is not a buying signal anyone should act on.
* **greedy selection**: each step adds the candidate whose *added* accounts (those no chosen rule flags
  yet) have the best lower confidence bound (Wilson) on their conversion rate, while the whole list stays
  within the **volume budget** (accounts per snapshot, measured on the newest training snapshots, because
  the pool grows) and adds at least ``min_converters`` converters. It stops at ``max_rules`` rules or when
  no candidate's bound beats the base rate.
* **round thresholds**: a chosen rule's thresholds move to the roundest nearby value (100 rather than 97,
  0.8 rather than 0.83) when that costs at most a ``round_tolerance`` share of the bound and keeps the budget.

Everything is computed with the rule language's own semantics (a comparison with a missing value is
False), so a learned rule flags exactly what :class:`rules.language.RuleSet` flags with its expression.
Functions are pure: they take arrays and frames and never change them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from rules.language import RuleSet
from features.spec import Column, FeatureSpec

from train.explain import format_value
from train.config import LearnedConfig

COUNT_KINDS = ("count", "quantity")  # usage counts: only ">=" conditions
PREFIX = "learned_"


def wilson_low(hits: np.ndarray | float, n: np.ndarray | float, confidence: float) -> np.ndarray:
    """Lower end of the two-sided Wilson interval of ``hits / n`` (0 where ``n`` is 0), vectorised."""
    hits, n = np.asarray(hits, float), np.asarray(n, float)
    z = float(norm.ppf(0.5 + confidence / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = hits / n
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = (centre - spread) / (1 + z * z / n)
    return np.where(n > 0, np.clip(low, 0.0, 1.0), 0.0)


# -- conditions and rules ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """``feature op value``: op is ``>=`` or ``<=`` (a number) or ``in`` (a tuple of categories)."""

    feature: str
    op: str
    value: float | tuple[str, ...]

    def expression(self) -> str:
        if self.op == "in":
            return f"{self.feature} in [{', '.join(repr(v) for v in self.value)}]"
        return f"{self.feature} {self.op} {_number(self.value)}"

    def mask(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        values = columns[self.feature]
        if self.op == "in":
            return pd.Series(values).isin(list(self.value)).to_numpy()
        with np.errstate(invalid="ignore"):  # NaN compares False: the rule language's missing-value rule
            return values >= self.value if self.op == ">=" else values <= self.value

    def words(self, column: Column | None) -> str:
        if column is None:
            return self.expression()
        if self.op == "in":
            return column.text.format(value=" or ".join(self.value), s="s")
        shown = format_value(column, self.value)
        bound = "at least" if self.op == ">=" else "at most"
        return column.text.format(value=f"{bound} {shown}", s="" if shown.lstrip("+-") == "1" else "s")


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
        return " and ".join(c.expression() for c in self.conditions)

    @property
    def signature(self) -> frozenset[tuple[str, str]]:
        """Which features it reads and in which direction: rules of one signature are the same idea."""
        return frozenset((c.feature, c.op) for c in self.conditions)

    def words(self, spec: FeatureSpec | None = None) -> str:
        columns = {c.name: c for c in spec.columns} if spec is not None else {}
        return " and ".join(c.words(columns.get(c.feature)) for c in self.conditions)

    def mask(self, columns: dict[str, np.ndarray]) -> np.ndarray:
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
        return [r.name for r in self.learned]

    @property
    def rules(self) -> dict[str, dict[str, str]]:
        """name -> {description (plain English), expression}."""
        return {r.name: {"description": r.words(self.spec), "expression": r.expression} for r in self.learned}

    @property
    def expressions(self) -> dict[str, str]:
        return {r.name: r.expression for r in self.learned}

    def ruleset(self) -> RuleSet:
        return RuleSet.from_config(self.rules)

    def words(self) -> list[str]:
        """One plain-English line per rule."""
        return [f"{r.name}: {r.words(self.spec)}" for r in self.learned]

    def flags(self, frame: pd.DataFrame) -> np.ndarray:
        """True where any learned rule fires (the list as one definition)."""
        if not self.learned:
            return np.zeros(len(frame), bool)
        columns = _columns(frame, {f for r in self.learned for f, _ in r.signature})
        return np.logical_or.reduce([r.mask(columns) for r in self.learned])

    def to_yaml(self) -> str:
        """A rules file ``python -m train rules.file=PATH`` reads (the learned list as hand rules)."""
        head = (f"# PQL definitions learned from the training snapshots under a budget of {self.budget:.0f} accounts\n"
                f"# per snapshot (they flag about {self.volume:.0f} on the newest training snapshots).\n"
                f"# Use them as hand rules: python -m train rules.file=learned_rules.yaml\n")
        body = yaml.safe_dump({"definitions": self.rules}, sort_keys=False, allow_unicode=True, width=120)
        return head + body


def _columns(frame: pd.DataFrame, names: set[str] | Sequence[str]) -> dict[str, np.ndarray]:
    """Feature arrays as the rule language compares them: numbers as float (NaN missing), text as objects."""
    out = {}
    for name in names:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            out[name] = values.astype(object).to_numpy()
        else:
            out[name] = values.to_numpy(dtype="float64", na_value=np.nan)
    return out


# -- candidates from shallow trees -----------------------------------------------------------------

@dataclass
class _Encoded:
    """The training rows as trees see them: every feature a float column (categoricals by conversion rate)."""

    matrix: np.ndarray
    names: list[str]
    kinds: dict[str, str]
    integer: dict[str, bool]
    order: dict[str, tuple[np.ndarray, np.ndarray]]  # categorical -> (categories, their encoded rate)


def _category_rates(values: pd.Series, y: np.ndarray, prior: float) -> tuple[pd.Series, np.ndarray]:
    """A categorical column's smoothed conversion rate per category (by its text, sorted) and per row (NaN where
    missing): counted on the category codes, so half a million rows are never turned into text."""
    codes = values.cat.codes.to_numpy()
    labels = values.cat.categories.astype(str)
    known = codes >= 0
    sums = np.bincount(codes[known], weights=y[known], minlength=len(labels))
    sizes = np.bincount(codes[known], minlength=len(labels))
    stats = pd.DataFrame({"v": labels, "sum": sums, "size": sizes})[sizes > 0].groupby("v")[["sum", "size"]].sum()
    rate = (stats["sum"] + 10 * prior) / (stats["size"] + 10)  # smoothed: rare categories stay near the base
    per_code = np.append(rate.reindex(labels).to_numpy(dtype="float64", na_value=np.nan), np.nan)
    return rate, per_code[np.where(known, codes, len(labels))]


def _encode(X: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, names: list[str]) -> _Encoded:
    kinds = {c.name: c.kind for c in spec.columns}
    # column-major: each feature is written as one contiguous column
    matrix = np.empty((len(X), len(names)), dtype=np.float32, order="F")
    integer, order = {}, {}
    prior = float(y.mean()) if len(y) else 0.0
    for j, name in enumerate(names):
        values = X[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            rate, matrix[:, j] = _category_rates(values, y, prior)
            order[name] = (rate.index.to_numpy(object), rate.to_numpy(float))
        elif kinds.get(name) == "category" or not pd.api.types.is_numeric_dtype(values.dtype):
            text = values.astype(object)
            known = text.notna().to_numpy()
            stats = pd.DataFrame({"v": text[known].astype(str).to_numpy(), "y": y[known]}).groupby("v")["y"].agg(
                ["sum", "size"])
            rate = (stats["sum"] + 10 * prior) / (stats["size"] + 10)  # smoothed: rare categories stay near the base
            order[name] = (rate.index.to_numpy(object), rate.to_numpy(float))
            mapped = text.astype(str).map(rate).to_numpy(dtype="float64", na_value=np.nan)
            matrix[:, j] = np.where(known, mapped, np.nan)
        else:
            v = values.to_numpy(dtype="float64", na_value=np.nan)
            matrix[:, j] = v
            finite = v[np.isfinite(v)]
            integer[name] = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
    return _Encoded(matrix, names, kinds, integer, order)


def _node_paths(tree, names: list[str], max_conditions: int) -> list[list[tuple[str, str, float]]]:
    """Every non-root node of a fitted sklearn tree as its path of (feature, '<=' or '>', threshold)."""
    t = tree.tree_
    paths, stack = [], [(0, [])]
    while stack:
        node, path = stack.pop()
        if path and len(path) <= max_conditions:
            paths.append(path)
        left, right = t.children_left[node], t.children_right[node]
        if left == -1 or len(path) >= max_conditions:
            continue
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        stack.append((left, [*path, (name, "<=", threshold)]))
        stack.append((right, [*path, (name, ">", threshold)]))
    return paths


def _conditions(path: list[tuple[str, str, float]], enc: _Encoded) -> tuple[Condition, ...] | None:
    """A tree path as rule conditions (merged per feature; usage counts only as ``>=``); None when empty."""
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    allowed: dict[str, set[str]] = {}
    for name, op, threshold in path:
        if not np.isfinite(threshold):  # a split of missing from known values: "known" is no condition, and
            if op == ">":               # "missing" none the rule language can state
                return None
            continue
        if name in enc.order:
            cats, rate = enc.order[name]
            keep = set(cats[rate <= threshold] if op == "<=" else cats[rate > threshold])
            allowed[name] = allowed.get(name, keep) & keep
        elif op == ">":
            v = math.floor(threshold) + 1 if enc.integer.get(name) else float(f"{threshold:.4g}")
            lower[name] = max(lower.get(name, -np.inf), v)
        elif enc.kinds.get(name) not in COUNT_KINDS:
            v = math.floor(threshold) if enc.integer.get(name) else float(f"{threshold:.4g}")
            upper[name] = min(upper.get(name, np.inf), v)
    out = [Condition(n, ">=", float(v)) for n, v in lower.items()]
    out += [Condition(n, "<=", float(v)) for n, v in upper.items()]
    for name, keep in allowed.items():
        if not keep:
            return None
        if len(keep) < len(enc.order[name][0]):  # all categories: no restriction (only drops missing)
            out.append(Condition(name, "in", tuple(sorted(keep))))
    return tuple(sorted(out, key=lambda c: (c.feature, c.op))) or None


_TREE_ROWS = 8_000  # trees only propose: every candidate is judged on all rows afterwards


def _tree_rows(rows: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Every converter among ``rows`` and a sample of the others, at most about ``_TREE_ROWS`` in all."""
    positive = rows[y[rows] == 1]
    negative = rows[y[rows] == 0]
    room = max(_TREE_ROWS - len(positive), _TREE_ROWS // 2)
    if len(negative) > room:
        negative = np.random.default_rng(seed).choice(negative, room, replace=False)
    return np.sort(np.concatenate([positive, negative]))


def _tree_candidates(enc: _Encoded, rows: np.ndarray, y: np.ndarray, config: LearnedConfig, leaf: int,
                     forest: bool, seed: int) -> set[tuple[Condition, ...]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rows = _tree_rows(rows, y, seed)
    X, target = enc.matrix[rows], y[rows]
    if len(np.unique(target)) < 2:
        return set()
    leaf = max(1, int(leaf * len(rows) / max(len(y), 1)))
    if forest:
        model = RandomForestClassifier(n_estimators=config.trees, max_depth=config.max_conditions,
                                       min_samples_leaf=leaf, max_features=0.3, class_weight="balanced",
                                       random_state=seed, n_jobs=1).fit(X, target)
        trees = model.estimators_
    else:
        trees = [DecisionTreeClassifier(max_depth=config.max_conditions, min_samples_leaf=leaf,
                                        class_weight="balanced", random_state=seed).fit(X, target)]
    out = set()
    for tree in trees:
        for path in _node_paths(tree, enc.names, config.max_conditions):
            conditions = _conditions(path, enc)
            if conditions is not None and len(conditions) <= config.max_conditions:
                out.add(conditions)
    return out


# -- rounding ---------------------------------------------------------------------------------------

def round_values(value: float) -> list[float]:
    """Rounder numbers near ``value``: roundest step first, nearer side first (97 -> 100, 90, 95; 0.83 -> 0.8, 0.9)."""
    if value == 0 or not np.isfinite(value):
        return []
    exponent = math.floor(math.log10(abs(value)))
    out: list[float] = []
    for step in (10.0 ** exponent, 5 * 10.0 ** (exponent - 1), 10.0 ** (exponent - 1)):
        below, above = math.floor(value / step) * step, math.ceil(value / step) * step
        for v in sorted((below, above), key=lambda r: abs(r - value)):
            v = float(f"{v:.10g}")
            if v != value and v not in out:
                out.append(v)
    return out


# -- the greedy selection ---------------------------------------------------------------------------

@dataclass
class _State:
    columns: dict[str, np.ndarray]
    y: np.ndarray
    recent: np.ndarray           # rows of the newest training snapshots (volume is measured there)
    volume_cap: float            # flagged rows allowed among ``recent``
    config: LearnedConfig
    min_add: float = 0.0         # rows among ``recent`` a rule must add (its share of the budget left)
    cache: dict[Condition, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # counts as popcounts of boolean masks: thousands of candidates are judged on up to max_rows rows, and a
        # boolean index (y[add], x[recent]) copies the selected rows every time
        self.positive = np.asarray(self.y) == 1
        self.recent = np.asarray(self.recent, bool)

    def mask(self, conditions: tuple[Condition, ...], keep: bool = True) -> np.ndarray:
        """The rule's flags (condition masks are cached when ``keep``: the candidate pool's are reused)."""
        parts = []
        for c in conditions:
            m = self.cache.get(c)
            if m is None:
                m = c.mask(self.columns)
                if keep:
                    self.cache[c] = m
            parts.append(m)
        return np.logical_and.reduce(parts) if parts else np.ones(len(self.y), bool)

    def judge(self, conditions: tuple[Condition, ...], flagged: np.ndarray,
              keep: bool = True) -> tuple[float, int, int, np.ndarray] | None:
        """(bound, added, added converters, mask) of adding the rule; None when it breaks the budget or
        adds too few converters."""
        m = self.mask(conditions, keep)
        add = m & ~flagged
        n, hits = int(np.count_nonzero(add)), int(np.count_nonzero(add & self.positive))
        if hits < self.config.min_converters or int(np.count_nonzero((m | flagged) & self.recent)) > self.volume_cap \
                or int(np.count_nonzero(add & self.recent)) < self.min_add:
            return None
        return float(wilson_low(hits, n, self.config.confidence)), n, hits, m

    def too_big(self, conditions: tuple[Condition, ...], flagged: np.ndarray) -> float | None:
        """The bound of a rule that would break the budget (None when it fits or is hopeless anyway)."""
        m = self.mask(conditions)
        if int(np.count_nonzero((m | flagged) & self.recent)) <= self.volume_cap:
            return None
        add = m & ~flagged
        hits = int(np.count_nonzero(add & self.positive))
        return float(wilson_low(hits, int(np.count_nonzero(add)), self.config.confidence)) \
            if hits >= self.config.min_converters else None


def _fitted(rule: tuple[Condition, ...], state: _State, flagged: np.ndarray) -> list[tuple[Condition, ...]]:
    """A rule too big for the budget left, narrowed to fit it: one numeric threshold at a time moves (up for
    ``>=``, down for ``<=``) to the nearest value at which the rule flags no more than the budget left on the
    newest training snapshots. Trees cut for the whole population; a small capacity needs a narrower cut."""
    room = state.volume_cap - int(flagged[state.recent].sum())
    out = []
    for i, c in enumerate(rule):
        if c.op == "in" or room < 1:
            continue
        others = rule[:i] + rule[i + 1:]
        values = state.columns[c.feature][state.recent & state.mask(others) & ~flagged]
        values = np.sort(values[np.isfinite(values)] * (1 if c.op == ">=" else -1))  # as lower bounds
        if len(values) == 0:
            continue
        unique = np.unique(values)
        inside = len(values) - np.searchsorted(values, unique, side="left")  # flagged at each candidate cut
        fits = unique[inside <= room]
        if len(fits) == 0:
            continue
        cut = float(fits.min()) * (1 if c.op == ">=" else -1)
        out.append(tuple(sorted((*others, Condition(c.feature, c.op, float(f"{cut:.6g}"))),
                                key=lambda k: (k.feature, k.op))))
    return out


_GRID = 24  # thresholds tried per condition when a candidate is refined


def _refined(rule: tuple[Condition, ...], state: _State, flagged: np.ndarray, integer: dict[str, bool],
             judged: tuple) -> tuple[tuple[Condition, ...], tuple]:
    """The rule with each numeric threshold moved, one condition at a time, to the quantile of the accounts
    it could add that gives the best bound within the budget: trees place thresholds for the whole population
    (Gini), a PQL list lives at its top. Two passes; a pass that improves nothing ends it."""
    best = (rule, judged)
    for _ in range(2):
        improved = False
        for i, c in enumerate(best[0]):
            if c.op == "in":
                continue
            others = best[0][:i] + best[0][i + 1:]
            values = state.columns[c.feature][state.mask(others) & ~flagged]
            values = values[np.isfinite(values)]
            if len(values) == 0:
                continue
            grid = np.unique(np.quantile(values, np.linspace(0.0, 1.0, _GRID + 2)[1:-1]))
            if integer.get(c.feature):
                grid = np.unique(np.round(grid))
            for v in grid:
                trial = tuple(sorted((*others, Condition(c.feature, c.op, float(f"{v:.4g}"))),
                                     key=lambda k: (k.feature, k.op)))
                result = state.judge(trial, flagged, keep=False)
                if result is not None and result[0] > best[1][0] + 1e-12:
                    best, improved = (trial, result), True
        if not improved:
            break
    return best


def _pruned(rule: tuple[Condition, ...], state: _State, flagged: np.ndarray, bound: float) -> tuple[Condition, ...]:
    """The rule without conditions that cost at most the tolerance when dropped (e.g. "30-day count >= 5"
    next to "7-day count >= 6", which implies it)."""
    conditions = list(rule)
    for c in list(conditions):
        if len(conditions) == 1:
            break
        trial = tuple(k for k in conditions if k is not c)
        result = state.judge(trial, flagged, keep=False)
        if result is not None and result[0] >= bound * (1 - state.config.round_tolerance):
            conditions = list(trial)
    return tuple(conditions)


def _rounded(rule: tuple[Condition, ...], state: _State, flagged: np.ndarray, bound: float) -> tuple[Condition, ...]:
    """The rule with each numeric threshold moved to the roundest value that costs at most the tolerance."""
    conditions = list(rule)
    for i, c in enumerate(conditions):
        if c.op == "in":
            continue
        for v in round_values(float(c.value)):
            if c.op == ">=" and v <= 0 < float(c.value):
                continue  # ">= 0" on a count or a ratio is hardly a condition
            trial = tuple(conditions[:i] + [Condition(c.feature, c.op, v)] + conditions[i + 1:])
            judged = state.judge(trial, flagged, keep=False)
            if judged is not None and judged[0] >= bound * (1 - state.config.round_tolerance):
                conditions = list(trial)
                break
    return tuple(conditions)


def learn(X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray, spec: FeatureSpec, budget: float,
          config: LearnedConfig, recent_snapshots: int = 4) -> LearnedDefinitions:
    """The learned list from training rows ``X`` (labels ``y``, as-of ``snapshot`` per row) under a budget of
    ``budget`` accounts per snapshot, measured on the newest ``recent_snapshots`` snapshots of ``X``."""
    y = np.asarray(y, int)
    names = [n for n in spec.names if n in X.columns]
    rng = np.random.default_rng(config.seed)
    rows = np.arange(len(X))
    scale = 1.0
    if len(X) > config.max_rows:  # a uniform sample keeps each snapshot's share, so volumes scale by its rate
        rows = np.sort(rng.choice(len(X), config.max_rows, replace=False))
        scale = config.max_rows / len(X)
    Xs, ys, snap = X.iloc[rows], y[rows], np.asarray(snapshot)[rows]
    times = np.unique(snap)
    newest = times[-recent_snapshots:] if len(times) else times
    recent = np.isin(snap, newest)
    cap = budget * len(newest) * scale
    empty = LearnedDefinitions((), float(budget), 0.0, spec)
    if len(Xs) == 0 or not names or ys.sum() < config.min_converters or cap < 1:
        return empty
    enc = _encode(Xs, ys, spec, names)
    state = _State(_columns(Xs, names), ys, recent, cap, config)
    # leaves no smaller than a share of the budget's volume over all snapshots: tiny leaves are noise
    leaf = max(config.min_converters, int(config.min_leaf_share * budget * len(times) * scale))
    pool = _tree_candidates(enc, np.arange(len(Xs)), ys, config, leaf, forest=True, seed=config.seed)
    flagged = np.zeros(len(Xs), bool)
    base = float(ys.mean())
    chosen: list[LearnedRule] = []
    for step in range(config.max_rules):
        if step:
            pool |= _tree_candidates(enc, np.flatnonzero(~flagged), ys, config, leaf, forest=False,
                                     seed=config.seed + step)
        # a rule takes at least its share of the budget left: five tiny, lucky rules would not fill the
        # capacity, and a lower bound on a rate favours the few accounts a refined threshold can isolate
        state.min_add = config.min_rule_share * (cap - int(flagged[recent].sum())) / (config.max_rules - step)
        scored, big = [], []
        for conditions in pool:
            judged = state.judge(conditions, flagged)
            if judged is not None:
                scored.append((-judged[0], str(conditions), conditions, judged))
            else:
                bound = state.too_big(conditions, flagged)
                if bound is not None:
                    big.append((-bound, str(conditions), conditions))
        for _, _, conditions in sorted(big)[:config.narrow]:  # the most promising too-big candidates, narrowed
            for narrowed in _fitted(conditions, state, flagged):
                judged = state.judge(narrowed, flagged, keep=False)
                if judged is not None:
                    scored.append((-judged[0], str(narrowed), narrowed, judged))
        scored.sort(key=lambda t: t[:2])  # best bound first; ties by text, so the result is deterministic
        top = scored[:max(config.refine, 1)]
        refined = [_refined(c, state, flagged, enc.integer, j) if config.refine else (c, j) for _, _, c, j in top]
        best = max(refined, key=lambda r: (r[1][0], -len(str(r[0]))), default=None)
        if best is None or best[1][0] <= base:
            break
        conditions = _rounded(_pruned(best[0], state, flagged, best[1][0]), state, flagged, best[1][0])
        bound, n, hits, m = state.judge(conditions, flagged, keep=False)
        chosen.append(LearnedRule(f"{PREFIX}{step + 1}", conditions, n, hits, bound))
        flagged |= m
        pool -= {c for _, _, c, _ in top}
    volume = float(flagged[recent].sum()) / max(len(newest), 1) / scale
    return LearnedDefinitions(tuple(chosen), float(budget), volume, spec)


# -- the list across backtest folds ------------------------------------------------------------------

def equivalent(a: LearnedRule, b: LearnedRule, a_flags: np.ndarray, b_flags: np.ndarray,
               jaccard: float = 0.5) -> bool:
    """Same idea: the same features in the same directions, or flags that mostly coincide (Jaccard)."""
    if a.signature == b.signature:
        return True
    union = int((a_flags | b_flags).sum())
    return union > 0 and int((a_flags & b_flags).sum()) / union >= jaccard


def stability(production: LearnedDefinitions, folds: Sequence[LearnedDefinitions], X: pd.DataFrame) -> dict[str, float]:
    """Per production rule: the share of fold lists holding the same or an equivalent rule (flags on ``X``)."""
    if not production.learned:
        return {}
    features = {f for d in (production, *folds) for r in d.learned for f, _ in r.signature}
    columns = _columns(X, features)
    masks = {id(r): r.mask(columns) for d in (production, *folds) for r in d.learned}
    out = {}
    for rule in production.learned:
        hits = sum(any(equivalent(rule, other, masks[id(rule)], masks[id(other)]) for other in fold.learned)
                   for fold in folds)
        out[rule.name] = hits / len(folds) if folds else float("nan")
    return out


def table(production: LearnedDefinitions, stable: dict[str, float], test_X: pd.DataFrame,
          y: np.ndarray) -> pd.DataFrame:
    """The production list, one row per rule: expression, words, stability, and what the rule flags on the
    backtest rows (flagged, converted, precision; for the record: the production list learned from them)."""
    columns = ["name", "expression", "words", "stability", "flagged", "converted", "precision", "train_added",
               "train_added_converted", "train_bound"]
    if not production.learned:
        return pd.DataFrame(columns=columns)
    cols = _columns(test_X, {f for r in production.learned for f, _ in r.signature})
    rows = []
    for rule in production.learned:
        m = rule.mask(cols)
        n, hits = int(m.sum()), int(np.asarray(y)[m].sum())
        rows.append({"name": rule.name, "expression": rule.expression, "words": rule.words(production.spec),
                     "stability": stable.get(rule.name, float("nan")), "flagged": n, "converted": hits,
                     "precision": hits / n if n else 0.0, "train_added": rule.added,
                     "train_added_converted": rule.added_converted, "train_bound": rule.bound})
    return pd.DataFrame(rows, columns=columns)


def overlap(learned: np.ndarray, hand: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Per hand rule (``hand``: one boolean column ``rule_<name>`` each): accounts and conversions flagged by
    the learned list only, by the rule only, and by both."""
    learned, y = np.asarray(learned, bool), np.asarray(y, int)
    rows = []
    for column in hand.columns:
        rule = hand[column].to_numpy(bool)
        row = {"rule": column.removeprefix("rule_")}
        for label, mask in (("learned_only", learned & ~rule), ("rule_only", rule & ~learned), ("both", learned & rule)):
            row[label] = int(mask.sum())
            row[f"{label}_converted"] = int(y[mask].sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule", "learned_only", "learned_only_converted", "rule_only",
                                       "rule_only_converted", "both", "both_converted"])


@dataclass(frozen=True)
class Backtested:
    """The production list, each fold's list (learned from that fold's training rows only), the folds' flags
    on their own test rows (pooled in fold order) and the production list's table."""

    production: LearnedDefinitions
    folds: tuple[LearnedDefinitions, ...]
    test_flags: np.ndarray
    table: pd.DataFrame


def backtest(X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray,
             folds: Sequence[tuple[np.ndarray, np.ndarray, FeatureSpec]], final_rows: np.ndarray, spec: FeatureSpec,
             budget: float, config: LearnedConfig, recent_snapshots: int = 4) -> Backtested:
    """Learn a list per fold from its training rows (``folds``: train mask, test mask, the columns the fold's
    model had) and flag its test rows with it; learn the production list from ``final_rows``; measure how
    often each production rule reappears in the fold lists and what it flags on the pooled test rows."""
    y = np.asarray(y, int)
    lists, flags, tests = [], [], []
    for train, test, fold_spec in folds:
        learned = learn(X[train], y[train], snapshot[train], fold_spec, budget, config, recent_snapshots)
        lists.append(learned)
        flags.append(learned.flags(X[test]))
        tests.append(np.flatnonzero(test))
    production = learn(X[final_rows], y[final_rows], snapshot[final_rows], spec, budget, config, recent_snapshots)
    rows = np.concatenate(tests) if tests else np.zeros(0, int)
    test_X = X.iloc[rows]
    stable = stability(production, lists, test_X)
    return Backtested(production, tuple(lists), np.concatenate(flags) if flags else np.zeros(0, bool),
                      table(production, stable, test_X, y[rows]))
