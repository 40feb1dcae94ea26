"""Fast per-feature contributions of a LightGBM model: path attribution (Saabas).

Exact TreeSHAP (``Booster.predict(pred_contrib=True)``) costs O(leaves x depth^2) per tree and row:
measured here ~1,300 rows/s for 150 trees of 31 leaves on 2 cores, i.e. 12 minutes for a million
accounts. Path attribution follows each row's decision path and credits the feature of every split
with the change of the node's expected value (``internal_value`` in LightGBM's model dump) from
parent to child. Like SHAP it is exact in total -- ``bias + sum(contributions) == raw score`` -- and
it is what XGBoost calls ``approx_contribs`` and treeinterpreter computes; it costs one leaf lookup
per tree and row plus a gather per used feature (~100x faster here). ``model.contributions=shap``
selects exact TreeSHAP instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class _Tree:
    features: np.ndarray  # the features split on in this tree (indices into the model's features)
    table: np.ndarray  # (leaves, len(features)): contribution of each feature for a row ending in each leaf
    root: float  # expected value of the tree (its share of the bias)


def _walk(node: dict, value: float, path: dict[int, float], out: dict[int, dict[int, float]]) -> None:
    """Collect, for every leaf under ``node``, the summed value changes per split feature on its path."""
    if "leaf_index" in node:
        out[node["leaf_index"]] = dict(path)
        return
    feature = node["split_feature"]
    for side in ("left_child", "right_child"):
        child = node[side]
        child_value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
        step = dict(path)
        step[feature] = step.get(feature, 0.0) + (child_value - value)
        _walk(child, child_value, step, out)


def _tree(structure: dict) -> _Tree:
    if "leaf_index" not in structure and "split_feature" not in structure:  # a constant tree
        return _Tree(np.empty(0, np.int64), np.zeros((1, 0)), float(structure.get("leaf_value", 0.0)))
    if "leaf_index" in structure:
        return _Tree(np.empty(0, np.int64), np.zeros((1, 0)), float(structure["leaf_value"]))
    leaves: dict[int, dict[int, float]] = {}
    root = float(structure["internal_value"])
    _walk(structure, root, {}, leaves)
    features = np.array(sorted({f for path in leaves.values() for f in path}), dtype=np.int64)
    column = {f: j for j, f in enumerate(features)}
    table = np.zeros((max(leaves) + 1, len(features)))
    for leaf, path in leaves.items():
        for f, v in path.items():
            table[leaf, column[f]] = v
    return _Tree(features, table, root)


class PathAttribution:
    """Contributions of a binary LightGBM booster, one column per feature plus ``bias`` (log-odds)."""

    def __init__(self, booster: lgb.Booster):
        self.booster = booster
        self.trees = [_tree(t["tree_structure"]) for t in booster.dump_model()["tree_info"]]
        self.bias = float(sum(t.root for t in self.trees))

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        leaves = np.ascontiguousarray(self.booster.predict(X, pred_leaf=True).reshape(len(X), -1).T)
        # feature-major accumulation: each update adds contiguous rows (25% faster than row-major here)
        out = np.zeros((self.booster.num_feature() + 1, len(X)))
        for t, tree in enumerate(self.trees):
            if len(tree.features):
                out[tree.features] += tree.table.T[:, leaves[t]]
        out[-1] = self.bias
        return out.T
