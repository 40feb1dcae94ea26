"""The greedy search for the learned list under the sales team's volume budget.

Each step adds the candidate whose *added* accounts (those no chosen rule flags yet) have the best lower
confidence bound (Wilson) on their conversion rate, while the whole list stays within the **volume budget**
(accounts per snapshot, measured on the newest training snapshots, because the pool grows) and adds at least
``min_converters`` converters. It stops at ``max_rules`` rules or when no candidate's bound beats the base
rate. A chosen rule's thresholds move to the roundest nearby value (100 rather than 97, 0.8 rather than
0.83) when that costs at most a ``round_tolerance`` share of the bound or barely changes what it flags, and
to a threshold an earlier rule uses on the same feature when one is near; near-duplicate rules (the same
features, flags overlapping by more than 90 %) are merged into the one of better precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.spec import FeatureSpec

from train.config import LearnedConfig
from train.learned.candidates import encode, tree_candidates, usable
from train.learned.rules import PREFIX, Condition, LearnedDefinitions, LearnedRule, columns_of


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

    base: float = 0.0            # the training rows' conversion rate
    chosen: list[tuple[Condition, ...]] = field(default_factory=list)  # the rules chosen so far

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
        if c.op in _LISTS or room < 1:
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
            if c.op in _LISTS:
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


_LISTS = ("in", "not in")
_NEAR = 0.1     # thresholds this close (relative) on one feature read as the same idea: 134.1 next to 140
_BARELY = 0.02  # a rounder threshold that changes at most this share of the rule's flags barely changes it


def _shared(c: Condition, chosen: list[tuple[Condition, ...]]) -> list[float]:
    """The thresholds earlier rules use on ``c``'s feature in its direction that are near ``c``'s own."""
    v = float(c.value)
    return sorted({float(k.value) for rule in chosen for k in rule
                   if k.feature == c.feature and k.op == c.op and k.value != c.value
                   and abs(float(k.value) - v) <= _NEAR * max(abs(float(k.value)), abs(v))}, key=lambda k: abs(k - v))


def _fine(value: float) -> list[float]:
    """The last resort of rounding: a whole number from 10 on, else two significant digits (134.1 -> 134)."""
    v = float(round(value)) if abs(value) >= 10 else float(f"{value:.2g}")
    return [v] if v != value else []


def _rounded(rule: tuple[Condition, ...], state: _State, flagged: np.ndarray, bound: float) -> tuple[Condition, ...]:
    """The rule with each numeric threshold moved: to a near threshold an earlier rule uses on the same feature
    (no list says ``>= 140`` and ``>= 134.1``) while the rule still beats the base rate, else to the roundest
    value that costs at most the tolerance of the bound or barely changes what it flags (re-evaluated), else
    to a whole number or two significant digits when that keeps the budget."""
    conditions = list(rule)
    for i, c in enumerate(conditions):
        if c.op in _LISTS:
            continue
        before = state.mask(tuple(conditions), keep=False)
        tries = [(v, "shared") for v in _shared(c, state.chosen)] + [(v, "round") for v in round_values(float(c.value))]
        for v, why in tries + [(v, "fine") for v in _fine(float(c.value))]:
            if c.op == ">=" and v <= 0 < float(c.value):
                continue  # ">= 0" on a count or a ratio is hardly a condition
            trial = tuple(conditions[:i] + [Condition(c.feature, c.op, v)] + conditions[i + 1:])
            judged = state.judge(trial, flagged, keep=False)
            if judged is None:
                continue
            changed = int(np.count_nonzero(judged[3] ^ before)) <= _BARELY * max(int(np.count_nonzero(before)), 1) \
                and abs(v - float(c.value)) <= _NEAR * abs(float(c.value))  # and still says about the same
            if (why == "shared" and judged[0] > state.base) or why == "fine" \
                    or judged[0] >= bound * (1 - state.config.round_tolerance) or changed:
                conditions = list(trial)
                break
    return tuple(conditions)


def _merged(rules: list[tuple[Condition, ...]], state: _State, overlap: float = 0.9) -> list[tuple[Condition, ...]]:
    """The rules without near-duplicates: of two rules on the same features whose flags overlap by more than
    ``overlap`` (of the smaller set), the one of better precision stays (the rounder thresholds on a tie)."""
    masks = [state.mask(r, keep=False) for r in rules]
    kept = list(range(len(rules)))
    for i in range(len(rules)):
        for j in range(i + 1, len(rules)):
            if i not in kept or j not in kept or {c.feature for c in rules[i]} != {c.feature for c in rules[j]}:
                continue
            both = int(np.count_nonzero(masks[i] & masks[j]))
            if both <= overlap * max(min(int(masks[i].sum()), int(masks[j].sum())), 1):
                continue
            kept.remove(min((i, j), key=lambda k: (_precision(masks[k], state.y), -_digits(rules[k]))))
    return [rules[k] for k in kept]


def _precision(mask: np.ndarray, y: np.ndarray) -> float:
    """The conversion rate of the flagged rows (0 when none)."""
    n = int(np.count_nonzero(mask))
    return float(np.asarray(y)[mask].sum()) / n if n else 0.0


def _digits(rule: tuple[Condition, ...]) -> int:
    """How many significant digits the rule's thresholds take (fewer reads rounder)."""
    return sum(len(f"{float(c.value):.6g}".replace(".", "").replace("-", "").strip("0"))
               for c in rule if c.op not in _LISTS)


def _listed(rules: list[tuple[Condition, ...]], state: _State) -> tuple[list[LearnedRule], np.ndarray]:
    """The rules in greedy order with what each adds (rows, converters, bound), and the list's flags."""
    flagged = np.zeros(len(state.y), bool)
    out = []
    for step, conditions in enumerate(rules):
        m = state.mask(conditions, keep=False)
        add = m & ~flagged
        n, hits = int(np.count_nonzero(add)), int(np.count_nonzero(add & state.positive))
        out.append(LearnedRule(f"{PREFIX}{step + 1}", conditions, n, hits,
                               float(wilson_low(hits, n, state.config.confidence))))
        flagged |= m
    return out, flagged


def _ranked(pool: set[tuple[Condition, ...]], state: _State, flagged: np.ndarray) -> list[tuple]:
    """The candidates that fit the budget left (and the most promising too-big ones, narrowed to fit), as
    (-bound, text, conditions, judged), best bound first; ties by text, so the result is deterministic."""
    scored, big = [], []
    for conditions in pool:
        judged = state.judge(conditions, flagged)
        if judged is not None:
            scored.append((-judged[0], str(conditions), conditions, judged))
        else:
            bound = state.too_big(conditions, flagged)
            if bound is not None:
                big.append((-bound, str(conditions), conditions))
    for _, _, conditions in sorted(big)[:state.config.narrow]:
        for narrowed in _fitted(conditions, state, flagged):
            judged = state.judge(narrowed, flagged, keep=False)
            if judged is not None:
                scored.append((-judged[0], str(narrowed), narrowed, judged))
    scored.sort(key=lambda t: t[:2])
    return scored


def learn(X: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray, spec: FeatureSpec, budget: float,
          config: LearnedConfig, recent_snapshots: int = 4) -> LearnedDefinitions:
    """The learned list from training rows ``X`` (labels ``y``, as-of ``snapshot`` per row) under a budget of
    ``budget`` accounts per snapshot, measured on the newest ``recent_snapshots`` snapshots of ``X``."""
    y = np.asarray(y, int)
    names = usable(X, spec)  # never a column of identifiers: no team adopts "landing page id in [11 hex ids]"
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
    enc = encode(Xs, ys, spec, names, config.max_values)
    state = _State(columns_of(Xs, names), ys, recent, cap, config, base=float(ys.mean()))
    # leaves no smaller than a share of the budget's volume over all snapshots: tiny leaves are noise
    leaf = max(config.min_converters, int(config.min_leaf_share * budget * len(times) * scale))
    pool = tree_candidates(enc, np.arange(len(Xs)), ys, config, leaf, forest=True, seed=config.seed)
    flagged = np.zeros(len(Xs), bool)
    for step in range(config.max_rules):
        if step:
            pool |= tree_candidates(enc, np.flatnonzero(~flagged), ys, config, leaf, forest=False,
                                    seed=config.seed + step)
        # a rule takes at least its share of the budget left: five tiny, lucky rules would not fill the
        # capacity, and a lower bound on a rate favours the few accounts a refined threshold can isolate
        state.min_add = config.min_rule_share * (cap - int(flagged[recent].sum())) / (config.max_rules - step)
        top = _ranked(pool, state, flagged)[:max(config.refine, 1)]
        refined = [_refined(c, state, flagged, enc.integer, j) if config.refine else (c, j) for _, _, c, j in top]
        best = max(refined, key=lambda r: (r[1][0], -len(str(r[0]))), default=None)
        if best is None or best[1][0] <= state.base:
            break
        conditions = _rounded(_pruned(best[0], state, flagged, best[1][0]), state, flagged, best[1][0])
        state.chosen.append(conditions)
        flagged |= state.mask(conditions, keep=False)
        pool -= {c for _, _, c, _ in top}
    chosen, flagged = _listed(_merged(state.chosen, state), state)
    volume = float(flagged[recent].sum()) / max(len(newest), 1) / scale
    return LearnedDefinitions(tuple(chosen), float(budget), volume, spec)

