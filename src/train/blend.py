"""The blend: a LightGBM model and the logistic model averaged in log-odds (a logarithmic opinion pool).

Both models estimate the same log-odds of converting, so their mean needs no learned weights (nothing is
fitted on the backtest's outcomes: a fold's blend is as point in time as its parts) and stays additive:
each feature's contribution is the mean of its two contributions, so tiers and reasons work unchanged.
Trees capture thresholds and interactions; the linear model extrapolates smoothly where the trees saw
few rows (old accounts on a log whose sign-ups stopped, a count beyond the training range). Calibration
afterwards maps the pooled log-odds to probabilities as for any model.

>>> import pandas as pd
>>> class Part:
...     def __init__(self, k): self.k, self.features = k, ["x"]
...     def response(self, X): return self.k * X["x"].to_numpy(float)
...     def contributions(self, X): return pd.DataFrame({"x": self.k * X["x"], "bias": 0.0})
>>> blend = BlendModel(Part(1.0), Part(3.0), ["x"])
>>> blend.response(pd.DataFrame({"x": [1.0, 2.0]})).tolist()
[2.0, 4.0]
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FILE = "blend.json"
PARTS = ("trees", "linear")  # bundle subfolders of the two models


@dataclass
class BlendModel:
    """The mean log-odds of two fitted models (LightGBM's and the logistic model's) on the same features."""

    trees: Any
    linear: Any
    features: list[str]
    kind: str = "blend"

    @property
    def estimator(self) -> Any:
        """The blend has no single scikit-learn estimator: calibration maps its log-odds directly."""
        raise RuntimeError("a blend has no single estimator; calibration works on its log-odds")

    def response(self, X: pd.DataFrame) -> np.ndarray:
        """The mean of the two models' log-odds."""
        return 0.5 * (np.asarray(self.trees.response(X), float) + np.asarray(self.linear.response(X), float))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's mean contribution (and the mean bias): they add up to :meth:`response`."""
        return self._mean(self.trees.contributions(X), self.linear.contributions(X))

    def response_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``(response(X), contributions(X))``, each part walked once."""
        raw_t, contrib_t = self.trees.response_and_contributions(X)
        raw_l, contrib_l = self.linear.response_and_contributions(X)
        return 0.5 * (np.asarray(raw_t, float) + np.asarray(raw_l, float)), self._mean(contrib_t, contrib_l)

    def _mean(self, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
        columns = [*self.features, "bias"]
        return pd.DataFrame(0.5 * (a[columns].to_numpy(float) + b[columns].to_numpy(float)), columns=columns,
                            index=a.index)

    def save(self, folder: Path) -> None:
        """Each part in a subfolder of its own (``trees/``, ``linear/``) and ``blend.json`` naming their kinds."""
        folder = Path(folder)
        for name, part in zip(PARTS, (self.trees, self.linear)):
            (folder / name).mkdir(parents=True, exist_ok=True)
            part.save(folder / name)
        (folder / FILE).write_text(json.dumps({"trees": self.trees.kind, "linear": self.linear.kind}))

    @classmethod
    def load(cls, folder: Path, features: list[str], loaders: dict[str, Any]) -> "BlendModel":
        """The two saved parts, each checked by its own loader against ``features``."""
        kinds = json.loads((Path(folder) / FILE).read_text())
        if not isinstance(kinds, dict) or set(kinds) != set(PARTS) or not set(kinds.values()) <= set(loaders):
            raise ValueError(f"{FILE}: expected the kinds of parts {list(PARTS)}, got {kinds!r}")
        trees, linear = (loaders[kinds[name]](Path(folder) / name, features) for name in PARTS)
        return cls(trees, linear, list(features))
