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
HIGH_INTENT_CAP = 2  # a good-fit pool smaller than this many times the capacity sizes high intent on all accounts
DEFAULT_GOOD_FIT = 0.6  # the good-fit percentile while the backtest has not sized it by lift yet (the folds' tiers)
SHARES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)  # top shares of the fit score tried for good fit, smallest first


def good_fit_by_lift(fit_score: np.ndarray, y: np.ndarray, lift: float = 1.3) -> tuple[float | None, list[dict]]:
    """The good-fit percentile sized by what the fit really separates: the top share of the fit score grows
    (through :data:`SHARES`) as long as each band it adds converts at least ``lift`` times the base rate, so a
    large "good fit" is never a few good accounts diluted by many average ones; None when even the top 5% do
    not (fit carries no signal: the tiers then use intent only). Returns the cut and each band's figures.

    >>> fit = np.linspace(0, 1, 1000); y = (fit > 0.9) & (np.arange(1000) % 2 == 0)
    >>> cut, _ = good_fit_by_lift(fit, y); round(cut, 2)
    0.9
    >>> good_fit_by_lift(fit, np.arange(1000) % 10 == 0)[0] is None
    True
    """
    fit_score, y = np.asarray(fit_score, float), np.asarray(y, float)
    known = np.isfinite(fit_score)
    base = float(y[known].mean()) if known.any() else 0.0
    rows, cut, inner = [], None, np.zeros(len(y), dtype=bool)
    for share in SHARES:
        top = known & (fit_score >= np.quantile(fit_score[known], 1 - share)) if known.any() else known
        band = top & ~inner
        rate = float(y[band].mean()) if band.any() else 0.0
        good = base > 0 and rate >= lift * base
        rows.append({"share": share, "band_accounts": int(band.sum()), "band_rate": rate,
                     "band_lift": rate / base if base > 0 else float("nan")})
        if not good:
            break
        cut, inner = 1 - share, top
    return cut, rows


def _kth(values: pd.Series, k: int) -> float:
    """The ``k``-th highest value (the lowest when there are fewer)."""
    v = np.sort(values.to_numpy())
    return float(v[-min(k, len(v))]) if len(v) else float("inf")


def regrade_fit(tiers: pd.DataFrame, good: float | None, medium: float, snapshot: np.ndarray,
                calls: int) -> pd.DataFrame:
    """Tiers re-graded to another good-fit percentile (None: fit unknown) -- the backtest's tiers once the fit
    has been sized by lift: ``fit_tier`` from each row's ``fit_score``; high intent re-sized as :meth:`Tiers.fit`
    sizes it (in each snapshot, the ``calls`` highest intent scores among the good-fit rows set the bar, for
    every row); ``pql_tier`` from both."""
    score = tiers["fit_score"].to_numpy(float)
    is_good = score >= good if good is not None else np.ones(len(tiers), dtype=bool)
    intent = tiers["intent_score"].to_numpy(float)
    by = np.asarray(snapshot)
    narrow = pd.Series(is_good).groupby(by).transform("sum").to_numpy() < HIGH_INTENT_CAP * calls
    pool = np.where(is_good | narrow, intent, -np.inf)  # as Tiers.fit: all accounts when few fit well
    high = intent >= pd.Series(pool).groupby(by).transform(lambda v: _kth(v, calls)).to_numpy()
    intent_tier = np.where(high, "high", np.where(tiers["intent_tier"].to_numpy() == "low", "low", "medium"))
    tiers = tiers.assign(intent_tier=intent_tier)
    if good is None:
        fit_tier = np.full(len(tiers), UNKNOWN, dtype=object)
        pql = np.where(high, 1, 0)
    else:
        fit_tier = np.where(is_good, "good", np.where(score >= min(medium, good), "medium", "poor"))
        pql = np.select([high & is_good, is_good & ~high, high & ~is_good], [1, 2, 3], 0)
    return tiers.assign(fit_tier=fit_tier, pql_tier=pd.array(np.where(pql > 0, pql, None), dtype="Int64"))


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
            capacity: int, good_fit: float | None = DEFAULT_GOOD_FIT) -> "Tiers":
        """Scales and thresholds from the model's contributions on reference rows (``snapshot`` labels each
        row's as-of): tier 1 holds about ``capacity`` accounts per snapshot there. ``good_fit``: the fit
        percentile of good fit when ``tiers.good_fit`` leaves it to the data (None: fit carries no signal,
        unknown); a number in the config wins."""
        intent, fit = group_sums(contrib, spec)
        q = np.linspace(0, 1, _GRID)
        intent_grid = np.quantile(intent, q) if len(intent) else np.zeros(_GRID)
        cut = config.good_fit if config.good_fit is not None else good_fit
        known = bool(len(fit)) and bool(np.ptp(fit) > 1e-9) and cut is not None
        fit_grid = np.quantile(fit, q) if bool(len(fit)) and bool(np.ptp(fit) > 1e-9) else np.zeros(_GRID)
        good = medium_fit = None
        if known:
            good = float(np.quantile(fit, cut))
            medium_fit = min(float(np.quantile(fit, config.medium_fit)), good)
        if config.high_intent is not None:
            high = float(np.quantile(intent, config.high_intent)) if len(intent) else float("inf")
        else:
            pool = intent if good is None else intent[fit >= good]
            k = int(capacity) * max(len(np.unique(snapshot)), 1)
            # tier 1: the capacity's worth of good-fit accounts by intent; when too few accounts fit well to fill
            # it twice over, "high intent" is the capacity's worth of all accounts (it must stay high)
            high = _top_threshold(pool if len(pool) >= HIGH_INTENT_CAP * k else intent, k)
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
