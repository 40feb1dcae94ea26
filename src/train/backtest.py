"""Running the rolling-origin backtest: every candidate model per fold, scored on its own test snapshots, pooled.

Each fold's models learn only from snapshots whose labels had matured before the fold began, and the
fold's tiers are sized on the snapshots its model could have seen (the newest ones before the fold), so
the backtest shows what production would have done. With several candidates (``model=auto``) a fold is
scored by the candidate that was best on the folds before it (:mod:`train.selection`); every candidate's
raw log-odds are kept beside it. Calibration is then chosen and cross-fitted on them (:mod:`train.calibrate`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.spec import FeatureSpec
from rules.language import RuleSet

from train.blend import BlendModel
from train.candidates import Candidate, Lineup, lineup
from train.config import ModelConfig
from train.design import Design
from train.folds import Fold, FoldPlan
from train.models import FittedModel, LogisticModel, TreeCount, fit_model, probe_trees
from train.selection import best
from train.settings import TrainSettings
from train.tiers import DEFAULT_GOOD_FIT, Tiers

log = logging.getLogger("pql")


@dataclass(frozen=True)
class Sample:
    """The rows a model learns from (non-converting ones down-sampled, :func:`sampled`) and their weights, sliced
    from the design once and shared by every candidate of a fold (each slice copies a few hundred MB)."""

    X: pd.DataFrame
    y: np.ndarray
    snapshot: np.ndarray
    weight: np.ndarray | None


def sample_of(design: Design, rows: np.ndarray, spec: FeatureSpec, settings: TrainSettings) -> Sample:
    """The spec's columns of the sampled rows, their labels, as-ofs and weights."""
    rows, weight = sampled(design, rows, settings)
    return Sample(design.X.loc[rows, spec.names], design.y[rows], design.snapshot[rows], weight)


def fit_on(sample: Sample, config: ModelConfig, spec: FeatureSpec, settings: TrainSettings,
           trees: TreeCount | None = None, init: FittedModel | None = None) -> FittedModel:
    """A model of the spec's columns on a sample (``trees``: LightGBM's number of trees picked before, else early
    stopping on these rows picks it; ``init``: see :func:`fit_model`)."""
    return fit_model(config, sample.X, sample.y, sample.snapshot, spec.categorical,
                     settings.backtest.validation_share, sample.weight, trees, init)


def trees_on(sample: Sample, settings: TrainSettings, candidate: Candidate) -> TreeCount | None:
    """LightGBM's number of trees picked by early stopping on these rows (None for other models)."""
    if candidate.kind != "lightgbm":
        return None
    return probe_trees(candidate.settings, sample.X, sample.y, sample.snapshot, settings.backtest.validation_share,
                       sample.weight)


def fit_candidate(candidate: Candidate, fitted: dict[str, FittedModel], sample: Sample, spec: FeatureSpec,
                  settings: TrainSettings, trees: TreeCount | None = None,
                  init: FittedModel | None = None) -> FittedModel:
    """A candidate on the sample (``fitted``: the candidates fitted already, the parts of a blend)."""
    if candidate.kind == "blend":
        return BlendModel(fitted[candidate.parts[0]], fitted[candidate.parts[1]], list(spec.names))
    return fit_on(sample, candidate.config, spec, settings, trees, init)


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
               settings: TrainSettings, good_fit: float | None = DEFAULT_GOOD_FIT) -> Tiers:
    """Tiers sized on the model's recent population (tier 1 about the weekly capacity over a snapshot period;
    ``good_fit``: the good-fit percentile sized by the backtest, see :func:`train.tiers.good_fit_by_lift`)."""
    ref = design.rows(design.reference(before, settings.backtest.reference_snapshots))
    return Tiers.fit(model.contributions(design.X[ref]), design.snapshot[ref], spec, settings.tiers,
                     settings.calls_per_snapshot, good_fit)


@dataclass(frozen=True)
class FoldResult:
    """One fold: every candidate fitted on its training rows and scored on its test rows, and the candidate
    that scores it in the backtest (``chosen``: the best on the folds before, or the a-priori one)."""

    fold: Fold
    rows: np.ndarray           # the test rows of the design
    chosen: str
    responses: dict[str, np.ndarray]  # every candidate's raw log-odds on the test rows
    tiers: pd.DataFrame        # intent/fit scores and tiers (the chosen model, its fold's tiers)
    baseline: np.ndarray | None  # the logistic baseline's log-odds (None: the run has none)
    n_train: int
    trees: int | None          # the chosen model's number of trees (a LightGBM model or a blend's trees)
    features: list[str]
    tree_counts: dict[str, TreeCount] = field(default_factory=dict)  # each LightGBM candidate's early-stopping count
    models: dict[str, FittedModel] = field(default_factory=dict)  # the fitted candidates (warm starts, production)

    @property
    def log_odds(self) -> np.ndarray:
        """The chosen candidate's raw log-odds on the test rows."""
        return self.responses[self.chosen]


def _baseline(lineup_: Lineup, settings: TrainSettings) -> str | None:
    """The candidate reported as the baseline (``backtest.baseline``, when it was fitted and is not the model
    itself): the logistic model, also when ``model=auto`` may choose it."""
    name = settings.backtest.baseline
    fitted = {c.name for c in lineup_.candidates}
    return name if name in fitted and (lineup_.auto or name != lineup_.prior) else None


def _trees(model: FittedModel) -> int | None:
    booster = getattr(model, "booster", None) or getattr(getattr(model, "trees", None), "booster", None)
    return booster.num_trees() if booster is not None else None


def run_fold(fold: Fold, design: Design, spec: FeatureSpec, settings: TrainSettings, lineup_: Lineup, choice: str,
             trees: dict[str, TreeCount], previous: FoldResult | None = None) -> FoldResult | None:
    """Train every candidate on the fold's matured snapshots, score its test snapshots (None: nothing to learn
    from). ``choice``: the candidate that scores the fold; ``trees``: LightGBM's numbers of trees picked by an
    earlier fold per candidate (missing: early stopping on this fold picks it); ``previous``: the fold before,
    whose logistic model this fold's starts from (it learned from older rows only: the start is point in time)."""
    train, test = design.rows(fold.train, fold.test[0]), design.rows(fold.test)
    if design.y[train].sum() == 0:
        log.warning("fold %d: its %d training snapshots hold no conversion; the fold is skipped", fold.index,
                    len(fold.train))
        return None
    models, counts, sample = {}, {}, sample_of(design, train, spec, settings)
    for candidate in lineup_.candidates:
        counts[candidate.name] = trees.get(candidate.name) or trees_on(sample, settings, candidate)
        start = previous.models.get(candidate.name) if previous is not None else None
        models[candidate.name] = fit_candidate(candidate, models, sample, spec, settings, counts[candidate.name],
                                               start if isinstance(start, LogisticModel) else None)
    del sample
    X_test = design.X[test]
    response, contributions = models[choice].response_and_contributions(X_test)  # one walk of the trees, not two
    tiers = size_tiers(models[choice], design, fold.test[0], spec, settings).assign(contributions, spec)
    responses = {choice: response}
    for candidate in lineup_.candidates:
        if candidate.name != choice and candidate.kind != "blend":
            responses[candidate.name] = models[candidate.name].response(X_test)
    for candidate in lineup_.candidates:  # a blend's log-odds: the mean of its parts' (no second walk)
        if candidate.kind == "blend" and candidate.name != choice:
            responses[candidate.name] = 0.5 * (responses[candidate.parts[0]] + responses[candidate.parts[1]])
    base = _baseline(lineup_, settings)
    return FoldResult(fold, test, choice, responses, tiers.reset_index(drop=True),
                      responses.get(base) if base else None, int(train.sum()), _trees(models[choice]), spec.names,
                      {k: v for k, v in counts.items() if v is not None},
                      {k: m for k, m in models.items() if isinstance(m, LogisticModel)})


@dataclass(frozen=True)
class Backtest:
    """Every fold's result (a fold without a conversion to learn from is skipped), the columns each of those
    folds' models had, each LightGBM candidate's number of trees the production model reuses, the candidates,
    the one that ships (best on every fold) and every candidate's score."""

    results: tuple[FoldResult, ...]
    specs: tuple[FeatureSpec, ...]
    trees: dict[str, TreeCount]
    lineup: Lineup
    chosen: str
    scores: dict[str, float]

    @property
    def rows(self) -> np.ndarray:
        """The design's row numbers of the pooled test rows, fold by fold."""
        return np.concatenate([r.rows.nonzero()[0] for r in self.results])


def choose(lineup_: Lineup, results: list[FoldResult], design: Design) -> tuple[str, dict[str, float]]:
    """The candidate best on these folds (the a-priori one with none), and every eligible candidate's score."""
    if not results or not lineup_.auto:
        return lineup_.prior, {}
    folds = {name: [(design.y[r.rows], r.responses[name], design.snapshot[r.rows]) for r in results]
             for name in lineup_.eligible}
    return best(folds, lineup_.prior, lineup_.metric, lineup_.margin, lineup_.calls)


def run_backtest(design: Design, plan: FoldPlan, specs: list[FeatureSpec], settings: TrainSettings) -> Backtest:
    """Every candidate per fold (``specs``: each fold's columns), each fold scored by the candidate best on the
    folds before it (the first fold by the a-priori one: with several candidates it only informs the choice,
    see :func:`reported`); the production choice is the candidate best on them all."""
    # LightGBM sized to the data: by the converters the oldest fold's models learn from (point in time)
    positives = int(design.y[design.rows(plan.folds[0].train, plan.folds[0].test[0])].sum()) if plan.folds else 0
    lineup_ = lineup(settings.model, settings.backtest.baseline, positives, settings.calls_per_snapshot)
    # backtest.trees=once: early stopping picks each LightGBM candidate's number of trees once, on the oldest fold's
    # training rows (point in time for every later model); the later folds and the production model reuse it
    # (scaled to their rows). per_fold: each fold probes its own rows; the production model reuses the newest count.
    once = settings.backtest.trees == "once"
    results, kept, trees = [], [], {}
    for f, s in zip(plan.folds, specs):
        choice = choose(lineup_, results, design)[0]
        r = run_fold(f, design, s, settings, lineup_, choice, trees if once else {}, results[-1] if results else None)
        if r is not None:
            results.append(r)
            kept.append(s)
            found = {k: v for k, v in r.tree_counts.items() if v.best is not None}
            trees = {**found, **trees} if once else {**trees, **found}
    if not results:
        raise ConfigError("no backtest fold has a conversion to learn from: use more data or a longer "
                          "label.horizon_days (see the health warnings above)")
    chosen, scores = choose(lineup_, results, design)
    return Backtest(tuple(results), tuple(kept), trees, lineup_, chosen, scores)


def pool(backtest: Backtest, design: Design, rules: RuleSet, frame: pd.DataFrame,
         learned: np.ndarray | None = None) -> pd.DataFrame:
    """One row per backtest account-snapshot: ids, fold, label, the raw log-odds of the candidate that scored the
    fold (``log_odds``, ``candidate``), tiers, rule flags, every candidate's log-odds (``log_odds_<name>``, with
    several candidates) and the flags of each fold's learned list (``learned``, when given)."""
    parts = []
    several = len(backtest.lineup.candidates) > 1 and backtest.lineup.auto
    for r in backtest.results:
        part = frame.loc[r.rows, ["account_id", "as_of", "label"]].reset_index(drop=True)
        # as_of: the snapshot whose calls the row counts in; looked_at: when (a first look is inside its window)
        part.insert(2, "looked_at", part["as_of"])
        part["as_of"] = design.snapshot[r.rows]
        part.insert(3, "fold", r.fold.index)
        part["log_odds"] = r.log_odds
        if r.baseline is not None:
            part["baseline_log_odds"] = r.baseline
        if several:
            part["candidate"] = r.chosen
            for name, values in r.responses.items():
                part[f"log_odds_{name}"] = values
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
