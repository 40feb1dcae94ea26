"""Candidate rules from shallow scikit-learn trees: a small random forest of depth ``max_conditions`` and, at
every step of the search, one tree fitted on the accounts not flagged yet. Every node's path is a
conjunction of at most ``max_conditions`` conditions. Fit categoricals enter the trees ordered by their
conversion rate, so a split reads back as ``industry in [...]`` -- of at most ``max_values`` values, or ``not in``
the few left out, never ``(other)``; columns of identifiers (:func:`identifier_like`) are never a condition. Usage
counts (kinds ``count`` and ``quantity``) are only ever used as ``>=`` conditions: "at most 3 API calls" is not a
buying signal anyone should act on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.families.fit import MANY_VALUES, id_like_value
from features.spec import OTHER, Column, FeatureSpec

from train.config import LearnedConfig
from train.learned.rules import COUNT_KINDS, Condition


def identifier_like(column: Column | None, values: pd.Series) -> bool:
    """Whether a text column names things no person tells apart, so no rule may name its values: the spec says
    so (its column carries lifts, as the fit family marks such columns), it keeps or holds more than
    ``MANY_VALUES`` distinct values, or a value looks like an identifier (hex, uuid, a long run of digits)."""
    if column is not None and column.lifts is not None:
        return True
    if column is not None and column.categories is not None and len(column.categories) > MANY_VALUES:
        return True
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = values.cat.categories[np.bincount(values.cat.codes.to_numpy() + 1,
                                                    minlength=len(values.cat.categories) + 1)[1:] > 0]
    else:
        present = pd.unique(values.dropna().astype(str))
    texts = [str(v) for v in present if str(v) != OTHER]
    return len(texts) > MANY_VALUES or any(id_like_value(v) for v in texts)


def usable(X: pd.DataFrame, spec: FeatureSpec) -> list[str]:
    """The spec's columns in ``X`` a rule may read: every one but the text columns of identifiers."""
    columns = {c.name: c for c in spec.columns}
    out = []
    for name in spec.names:
        if name not in X.columns:
            continue
        values, column = X[name], columns.get(name)
        text = (column is not None and column.is_categorical) or not pd.api.types.is_numeric_dtype(values.dtype) \
            or isinstance(values.dtype, pd.CategoricalDtype)
        if not (text and identifier_like(column, values)):
            out.append(name)
    return out


@dataclass
class Encoded:
    """The training rows as trees see them: every feature a float column (categoricals by conversion rate)."""

    matrix: np.ndarray
    names: list[str]
    kinds: dict[str, str]
    integer: dict[str, bool]
    order: dict[str, tuple[np.ndarray, np.ndarray]]  # categorical -> (categories, their encoded rate)
    max_values: int = 5  # an "in" or "not in" list names at most this many values


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


def encode(X: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, names: list[str], max_values: int = 5) -> Encoded:
    """The ``names`` columns of ``X`` as one float32 matrix for the trees (categoricals by their smoothed
    conversion rate), with what reads a split back: kinds, integer columns, category order, list length."""
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
    return Encoded(matrix, names, kinds, integer, order, max_values)


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


def _conditions(path: list[tuple[str, str, float]], enc: Encoded) -> tuple[Condition, ...] | None:
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
        condition = _category_condition(name, keep, enc)
        if condition is False:
            return None
        if condition is not None:
            out.append(condition)
    return tuple(sorted(out, key=lambda c: (c.feature, c.op))) or None


def _category_condition(name: str, keep: set[str], enc: Encoded) -> Condition | None | bool:
    """The categories a tree path keeps as a condition a person can read: ``in`` at most ``max_values`` values,
    else ``not in`` the few left out (the shorter list wins; ``(other)`` is never named, so it stays with the
    values not listed). None: no condition (it would name every value, or too many); False: nothing is kept."""
    keep = keep - {OTHER}
    if not keep:
        return False
    left_out = set(enc.order[name][0]) - keep - {OTHER}
    if not left_out:  # every value: no restriction (only drops missing)
        return None
    if len(keep) <= enc.max_values and len(keep) <= len(left_out):
        return Condition(name, "in", tuple(sorted(keep)))
    if len(left_out) <= enc.max_values:
        return Condition(name, "not in", tuple(sorted(left_out)))
    return Condition(name, "in", tuple(sorted(keep))) if len(keep) <= enc.max_values else None


_TREE_ROWS = 8_000  # trees only propose: every candidate is judged on all rows afterwards


def _tree_rows(rows: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Every converter among ``rows`` and a sample of the others, at most about ``_TREE_ROWS`` in all."""
    positive = rows[y[rows] == 1]
    negative = rows[y[rows] == 0]
    room = max(_TREE_ROWS - len(positive), _TREE_ROWS // 2)
    if len(negative) > room:
        negative = np.random.default_rng(seed).choice(negative, room, replace=False)
    return np.sort(np.concatenate([positive, negative]))


def tree_candidates(enc: Encoded, rows: np.ndarray, y: np.ndarray, config: LearnedConfig, leaf: int,
                    forest: bool, seed: int) -> set[tuple[Condition, ...]]:
    """Every node path of a small forest (``forest``) or of one tree fitted on ``rows`` (converters and a
    sample of the others), as rule conditions: the candidates the search judges on all rows."""
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

