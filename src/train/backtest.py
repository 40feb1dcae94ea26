"""Running the rolling-origin backtest: one model per fold, scored on its own test snapshots, pooled.

Each fold's model learns only from snapshots whose labels had matured before the fold began,
and its tiers are sized on the snapshots it could have seen (the newest ones before the fold),
so the backtest shows what production would have done. The raw log-odds of every fold are kept:
calibration is then chosen and cross-fitted on them (:mod:`train.calibrate`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.spec import FeatureSpec
from rules.language import RuleSet

from train.design import Design
from train.folds import Fold, FoldPlan
from train.models import FittedModel, LogisticModel, TreeCount, fit_model, probe_trees
from train.config import ModelConfig
from train.settings import TrainSettings
from train.tiers import Tiers

log = logging.getLogger("pql")


def fit_on(design: Design, rows: np.ndarray, config: ModelConfig, spec: FeatureSpec,
           settings: TrainSettings, trees: TreeCount | None = None, init: FittedModel | None = None) -> FittedModel:
    """A model of the spec's columns on the given rows (non-converting rows down-sampled by
    ``backtest.negative_share``, see :func:`sampled`; ``trees``: LightGBM's number of trees picked before, else
    early stopping on these rows picks it; ``init``: see :func:`fit_model`)."""
    rows, weight = sampled(design, rows, settings)
    return fit_model(config, design.X.loc[rows, spec.names], design.y[rows], design.snapshot[rows], spec.categorical,
                     settings.backtest.validation_share, weight, trees, init)


def trees_on(design: Design, rows: np.ndarray, spec: FeatureSpec, settings: TrainSettings) -> TreeCount | None:
    """LightGBM's number of trees picked by early stopping on these rows (None for other models)."""
    if settings.model.name != "lightgbm":
        return None
    rows, weight = sampled(design, rows, settings)
    return probe_trees(settings.model.settings, design.X.loc[rows, spec.names], design.y[rows], design.snapshot[rows],
                       settings.backtest.validation_share, weight)


def sampled(design: Design, rows: np.ndarray, settings: TrainSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows a model learns from and their weights: ``backtest.negative_share`` of the non-converting ones
    (``auto``: at most ``backtest.max_negatives`` of them), each weighted back. The share depends on these rows
    alone, so a backtest fold samples as production would have on its date (point in time)."""
    share = settings.backtest.share_for(int(np.count_nonzero(rows & (design.y == 0))))
    return negative_sample(rows, design.y, share)


def negative_sample(rows: np.ndarray, y: np.ndarray, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Every converting row and a seeded ``share`` of the others, weighted ``1/share``: the weighted sample
    has the full table's expected class balance, so the model's probabilities need no correction.

    >>> rows, w = negative_sample(np.ones(8, bool), np.array([1, 0, 0, 0, 0, 0, 0, 0]), 0.5)
    >>> bool(rows[0]), float(w.sum()) >= 1.0, set(w.tolist()) <= {1.0, 2.0}
    (True, True, True)
    """
    if isinstance(share, str):
        raise TypeError(f"negative_sample needs a number, not {share!r} (BacktestConfig.share_for resolves 'auto')")
    if share >= 1:
        return rows, None
    # one draw per design row (not per selected row): a fold and the production model keep the same rows (with
    # different shares, the smaller share's sample is part of the larger one's)
    keep = np.random.default_rng(seed).random(len(y)) < share
    rows = rows & ((y == 1) | keep)
    return rows, np.where(y[rows] == 1, 1.0, 1.0 / share)


def size_tiers(model: FittedModel, design: Design, before: pd.Timestamp | None, spec: FeatureSpec,
               settings: TrainSettings) -> Tiers:
    """Tiers sized on the model's recent population (tier 1 about ``capacity_per_week`` per snapshot)."""
    ref = design.rows(design.reference(before, settings.backtest.reference_snapshots))
    return Tiers.fit(model.contributions(design.X[ref]), design.snapshot[ref], spec, settings.tiers,
                     settings.capacity_per_week)


@dataclass(frozen=True)
class FoldResult:
    """One fold's model scored on its test rows: raw log-odds, tiers, the baseline's response, its size."""

    fold: Fold
    rows: np.ndarray           # the test rows of the design
    log_odds: np.ndarray       # the fold model's raw response on them
    tiers: pd.DataFrame        # intent/fit scores and tiers (fold model, fold tiers)
    baseline: np.ndarray | None
    n_train: int
    trees: int | None
    features: list[str]
    tree_count: TreeCount | None = None  # the early-stopping count this fold's model used (reused by later models)
    baseline_model: FittedModel | None = None  # where the next fold's baseline starts (warm start)


def run_fold(fold: Fold, design: Design, spec: FeatureSpec, settings: TrainSettings,
             trees: TreeCount | None = None, previous: FoldResult | None = None) -> FoldResult | None:
    """Train on the fold's matured snapshots, score its test snapshots (None: nothing to learn from).
    ``trees``: LightGBM's number of trees picked by an earlier fold (None: early stopping on this fold picks it);
    ``previous``: the fold before, whose baseline model this fold's baseline starts from (it learned from older
    rows only, so the start is point in time)."""
    train, test = design.rows(fold.train), design.rows(fold.test)
    if design.y[train].sum() == 0:
        log.warning("fold %d: its %d training snapshots hold no conversion; the fold is skipped", fold.index,
                    len(fold.train))
        return None
    trees = trees or trees_on(design, train, spec, settings)
    model = fit_on(design, train, settings.model, spec, settings, trees)
    X_test = design.X[test]
    response, contributions = model.response_and_contributions(X_test)  # one walk of the trees, not two
    tiers = size_tiers(model, design, fold.test[0], spec, settings).assign(contributions, spec)
    baseline, other = None, None
    if settings.backtest.baseline and settings.backtest.baseline != settings.model.name:
        other = fit_on(design, train, ModelConfig(settings.backtest.baseline), spec, settings,
                       init=previous.baseline_model if previous is not None else None)
        baseline = other.response(X_test)
    n_trees = model.booster.num_trees() if hasattr(model, "booster") else None
    return FoldResult(fold, test, response, tiers.reset_index(drop=True), baseline,
                      int(train.sum()), n_trees, spec.names, trees,
                      other if isinstance(other, LogisticModel) else None)  # only a logistic one warm-starts


@dataclass(frozen=True)
class Backtest:
    """Every fold's result (a fold without a conversion to learn from is skipped), the columns each of those
    folds' models had, and the number of trees the production model reuses."""

    results: tuple[FoldResult, ...]
    specs: tuple[FeatureSpec, ...]
    trees: TreeCount | None

    @property
    def rows(self) -> np.ndarray:
        """The design's row numbers of the pooled test rows, fold by fold."""
        return np.concatenate([r.rows.nonzero()[0] for r in self.results])


def run_backtest(design: Design, plan: FoldPlan, specs: list[FeatureSpec], settings: TrainSettings) -> Backtest:
    """A model per fold (``specs``: each fold's columns), each scored on its own test snapshots."""
    # backtest.trees=once: early stopping picks the number of trees once, on the oldest fold's training rows (point
    # in time for every later model); the later folds and the production model reuse it (scaled to their rows)
    # instead of probing. per_fold: each fold probes its own rows; the production model reuses the newest count.
    once = settings.backtest.trees == "once"
    results, kept, trees = [], [], None
    for f, s in zip(plan.folds, specs):
        r = run_fold(f, design, s, settings, trees if once else None, results[-1] if results else None)
        if r is not None:
            results.append(r)
            kept.append(s)
            found = r.tree_count if r.tree_count is not None and r.tree_count.best is not None else None
            trees = (trees or found) if once else (found or trees)
    if not results:
        raise ConfigError("no backtest fold has a conversion to learn from: use more data or a longer "
                          "label.horizon_days (see the health warnings above)")
    return Backtest(tuple(results), tuple(kept), trees)


def pool(backtest: Backtest, design: Design, rules: RuleSet, frame: pd.DataFrame,
         learned: np.ndarray | None = None) -> pd.DataFrame:
    """One row per backtest account-snapshot: ids, fold, label, raw log-odds, tiers, rule flags (and the
    flags of each fold's learned list, column ``learned``, when given)."""
    parts = []
    for r in backtest.results:
        part = frame.loc[r.rows, ["account_id", "as_of", "label"]].reset_index(drop=True)
        part.insert(2, "fold", r.fold.index)
        part["log_odds"] = r.log_odds
        if r.baseline is not None:
            part["baseline_log_odds"] = r.baseline
        parts.append(pd.concat([part, r.tiers], axis=1))
    test = pd.concat(parts, ignore_index=True)
    flags = rules.evaluate(design.X.iloc[backtest.rows]).reset_index(drop=True)
    test = pd.concat([test, flags], axis=1)
    return test if learned is None else test.assign(learned=learned)


def sample_note(design: Design, rows: np.ndarray, settings: TrainSettings) -> tuple[int, str] | None:
    """(rows kept, the note saying so) when a model on ``rows`` learns from a sample of its non-converting
    rows (``backtest.negative_share``, :func:`sampled`); None when it learns from them all."""
    cfg = settings.backtest
    share = cfg.share_for(int(np.count_nonzero(rows & (design.y == 0))))
    if share >= 1:
        return None
    kept = int(negative_sample(rows, design.y, share)[0].sum())
    why = (f"backtest.negative_share=auto: each model learns from at most backtest.max_negatives="
           f"{cfg.max_negatives:,} of them; backtest.negative_share=1.0 keeps every row, slower"
           if cfg.negative_share == "auto" else "backtest.negative_share")
    return kept, (f"the production model learned from {share:.0%} of its non-converting rows, each weighted "
                  f"{1 / share:.4g} ({why}): {kept:,} of {int(rows.sum()):,} rows")
