"""Intent, fit and PQL tiers from the model's own per-feature contributions.

The model's log-odds contributions are summed by feature group: *intent* (usage, touches, plan
limits: what the account does) and *fit* (account attributes: who it is). Each sum becomes a
score in [0, 1]: the share of training rows at or below it. Thresholds on those scores make
tiers; they are fixed at training time and travel with the model, so tiers mean the same on
every scoring day.

PQL tier: 1 = high intent and good fit (call now); 2 = good fit, intent not high (help them
adopt); 3 = high intent, fit not good (self-serve or marketing); empty otherwise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.spec import FIT_GROUPS, INTENT_GROUPS, FeatureSpec

from .settings import TierConfig

_GRID = 1001  # stored quantiles of the training distribution


def group_sums(contrib: pd.DataFrame, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(intent, fit) log-odds: contributions summed over each group's features."""
    names = [c for c in contrib.columns if c != "bias"]
    groups = spec.group_of(names)
    values = contrib[names].to_numpy()
    return values[:, np.isin(groups, INTENT_GROUPS)].sum(axis=1), values[:, np.isin(groups, FIT_GROUPS)].sum(axis=1)


@dataclass(frozen=True)
class Tiers:
    intent_grid: tuple[float, ...]
    fit_grid: tuple[float, ...]
    config: TierConfig

    @classmethod
    def fit(cls, contrib: pd.DataFrame, spec: FeatureSpec, config: TierConfig) -> "Tiers":
        """Learn the score scales from training contributions."""
        intent, fit = group_sums(contrib, spec)
        q = np.linspace(0, 1, _GRID)
        return cls(tuple(np.quantile(intent, q).tolist()), tuple(np.quantile(fit, q).tolist()), config)

    @staticmethod
    def _percentile(raw: np.ndarray, grid: tuple[float, ...]) -> np.ndarray:
        return np.searchsorted(np.asarray(grid), raw, side="right") / len(grid)

    def thresholds(self) -> dict[str, float]:
        """The raw (log-odds) thresholds behind the tiers, for the record."""
        c = self.config
        pick = lambda grid, q: float(np.quantile(np.asarray(grid), q))  # noqa: E731
        return {"high_intent": pick(self.intent_grid, c.high_intent),
                "medium_intent": pick(self.intent_grid, c.medium_intent),
                "good_fit": pick(self.fit_grid, c.good_fit), "medium_fit": pick(self.fit_grid, c.medium_fit)}

    def assign(self, contrib: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
        """intent_score, fit_score, intent_tier, fit_tier, pql_tier for each row."""
        intent_raw, fit_raw = group_sums(contrib, spec)
        intent = self._percentile(intent_raw, self.intent_grid)
        fit = self._percentile(fit_raw, self.fit_grid)
        c = self.config
        high, good = intent >= c.high_intent, fit >= c.good_fit
        intent_tier = np.where(high, "high", np.where(intent >= c.medium_intent, "medium", "low"))
        fit_tier = np.where(good, "good", np.where(fit >= c.medium_fit, "medium", "poor"))
        pql = np.select([high & good, good & ~high, high & ~good], [1, 2, 3], 0)
        return pd.DataFrame({
            "intent_score": intent, "fit_score": fit, "intent_tier": intent_tier, "fit_tier": fit_tier,
            "pql_tier": pd.array(np.where(pql > 0, pql, None), dtype="Int64"),
        }, index=contrib.index)

    def to_dict(self) -> dict:
        return {"intent_grid": list(self.intent_grid), "fit_grid": list(self.fit_grid), "config": asdict(self.config),
                "thresholds": self.thresholds()}

    @classmethod
    def from_dict(cls, data: dict) -> "Tiers":
        return cls(tuple(data["intent_grid"]), tuple(data["fit_grid"]), TierConfig(**data["config"]))
