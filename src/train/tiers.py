"""Intent, fit and PQL tiers from the model's own per-feature contributions, sized by sales capacity.

The model's log-odds contributions are summed by feature group: *intent* (usage, touches, plan
limits: what the account does) and *fit* (account attributes: who it is). Each sum becomes a
score in [0, 1]: its percentile among a recent reference population (the newest snapshots the
model could see). Tiers are thresholds on those sums, fixed at training time and carried with
the model, so they mean the same on every scoring day:

* fit: good / medium / poor at the ``good_fit`` / ``medium_fit`` percentiles; **unknown** when the
  data has no fit attributes or the model gives them no weight (then the tiers use intent only);
* intent: high from the threshold that puts ``capacity`` accounts per snapshot into tier 1 on the
  reference snapshots (or the ``high_intent`` percentile when set), medium from ``medium_intent``;
* PQL tier: 1 = high intent and good (or unknown) fit: call now; 2 = good fit, intent not high:
  help them adopt; 3 = high intent, fit not good: self-serve or marketing; empty otherwise.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.spec import FIT_GROUPS, INTENT_GROUPS, FeatureSpec

from train.config import TierConfig

log = logging.getLogger("pql")
_GRID = 1001  # stored quantiles of the reference distribution
UNKNOWN = "unknown"


def group_sums(contrib: pd.DataFrame, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(intent, fit) log-odds: contributions summed over each group's features."""
    names = [c for c in contrib.columns if c != "bias"]
    groups = spec.group_of(names)
    values = contrib[names].to_numpy()
    return values[:, np.isin(groups, INTENT_GROUPS)].sum(axis=1), values[:, np.isin(groups, FIT_GROUPS)].sum(axis=1)


def _top_threshold(values: np.ndarray, k: int) -> float:
    """The value at or above which ``k`` of ``values`` lie (all of them when there are fewer)."""
    if len(values) == 0:
        return float("inf")
    if k >= len(values):
        return float(values.min())
    return float(np.partition(values, len(values) - k)[len(values) - k])


@dataclass(frozen=True)
class Tiers:
    """Intent and fit from the model's contributions, as percentile scores and tiers (PQL tier 1: high intent and good fit)."""

    intent_grid: tuple[float, ...]
    fit_grid: tuple[float, ...]
    high_intent: float      # raw (log-odds) thresholds
    medium_intent: float
    good_fit: float | None  # None: fit unknown
    medium_fit: float | None
    config: TierConfig
    capacity: int = 0

    @property
    def fit_known(self) -> bool:
        """Whether the model gives fit any weight (else the tiers use intent only)."""
        return self.good_fit is not None

    @classmethod
    def fit(cls, contrib: pd.DataFrame, snapshot: np.ndarray, spec: FeatureSpec, config: TierConfig,
            capacity: int) -> "Tiers":
        """Scales and thresholds from the model's contributions on reference rows (``snapshot`` labels each
        row's as-of): tier 1 holds about ``capacity`` accounts per snapshot there."""
        intent, fit = group_sums(contrib, spec)
        q = np.linspace(0, 1, _GRID)
        intent_grid = np.quantile(intent, q) if len(intent) else np.zeros(_GRID)
        known = bool(len(fit)) and bool(np.ptp(fit) > 1e-9)
        fit_grid = np.quantile(fit, q) if known else np.zeros(_GRID)
        good = medium_fit = None
        if known:
            good, medium_fit = float(np.quantile(fit, config.good_fit)), float(np.quantile(fit, config.medium_fit))
        if config.high_intent is not None:
            high = float(np.quantile(intent, config.high_intent)) if len(intent) else float("inf")
        else:
            pool = intent if good is None else intent[fit >= good]
            high = _top_threshold(pool, int(capacity) * max(len(np.unique(snapshot)), 1))
        medium = float(np.quantile(intent, config.medium_intent)) if len(intent) else float("inf")
        return cls(tuple(intent_grid.tolist()), tuple(fit_grid.tolist()), high, min(medium, high), good, medium_fit,
                   config, int(capacity))

    @staticmethod
    def _percentile(raw: np.ndarray, grid: tuple[float, ...]) -> np.ndarray:
        return np.searchsorted(np.asarray(grid), raw, side="right") / len(grid)

    def thresholds(self) -> dict[str, float | None]:
        """The raw (log-odds) thresholds behind the tiers, for the record."""
        return {"high_intent": self.high_intent, "medium_intent": self.medium_intent, "good_fit": self.good_fit,
                "medium_fit": self.medium_fit}

    def assign(self, contrib: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
        """intent_score, fit_score, intent_tier, fit_tier, pql_tier for each row."""
        intent_raw, fit_raw = group_sums(contrib, spec)
        high = intent_raw >= self.high_intent
        intent_tier = np.where(high, "high", np.where(intent_raw >= self.medium_intent, "medium", "low"))
        if self.fit_known:
            good = fit_raw >= self.good_fit
            fit_tier = np.where(good, "good", np.where(fit_raw >= self.medium_fit, "medium", "poor"))
            fit_score = self._percentile(fit_raw, self.fit_grid)
            pql = np.select([high & good, good & ~high, high & ~good], [1, 2, 3], 0)
        else:
            fit_tier = np.full(len(intent_raw), UNKNOWN, dtype=object)
            fit_score = np.full(len(intent_raw), np.nan)
            pql = np.where(high, 1, 0)
        return pd.DataFrame({
            "intent_score": self._percentile(intent_raw, self.intent_grid), "fit_score": fit_score,
            "intent_tier": intent_tier, "fit_tier": fit_tier,
            "pql_tier": pd.array(np.where(pql > 0, pql, None), dtype="Int64"),
        }, index=contrib.index)

    def to_dict(self) -> dict:
        """The tiers as plain JSON data (``tiers.json``)."""
        return {"intent_grid": list(self.intent_grid), "fit_grid": list(self.fit_grid), "config": asdict(self.config),
                "capacity": self.capacity, "thresholds": self.thresholds()}

    @classmethod
    def from_dict(cls, data: dict) -> "Tiers":
        """The tiers from :meth:`to_dict`'s data."""
        t = data["thresholds"]
        return cls(tuple(data["intent_grid"]), tuple(data["fit_grid"]), t["high_intent"], t["medium_intent"],
                   t["good_fit"], t["medium_fit"], TierConfig(**data["config"]), int(data.get("capacity", 0)))
