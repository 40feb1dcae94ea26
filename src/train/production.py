"""From the backtest to what ships: the calibration chosen on the folds' out-of-time predictions, the
production model (all labelled snapshots), its tiers, the amount model, and the scorer that carries them
with the drift reference and the run's metadata.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import drift
from features.spec import FeatureSpec
from rules.language import RuleSet

from train import calibrate
from train.backtest import Backtest, fit_candidate, sample_of, size_tiers
from train.calibrate import Calibrator, Choice
from train.design import Design
from train.folds import FoldPlan
from train.models import FittedModel, TreeCount
from train.scorer import Scorer
from train.settings import TrainSettings
from train.tiers import Tiers, good_fit_by_lift, regrade_fit
from train.value import AmountModel

SAMPLE = 100_000  # rows used for drift references and importance (plenty for stable quantiles)


def sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows of ``frame``, drawn with a fixed seed."""
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def calibrate_backtest(test: pd.DataFrame, method: str, chosen: str | None = None) -> tuple[pd.DataFrame, Choice,
                                                                                          Calibrator]:
    """The calibration ``method`` (``auto``: chosen on held-out log loss and level) cross-fitted on the pooled
    folds: the backtest rows with their calibrated ``score`` and ``uncalibrated`` probability, the choice, and
    the calibrator fitted on every fold's predictions (the one that ships).

    With several candidates (columns ``log_odds_<name>``), the method is chosen on the log-odds of the one
    that ships (``chosen``), and each fold's score is that of the candidate that scored it, calibrated by a
    map of that candidate's log-odds on the other folds: a map never mixes two models' scales."""
    y, folds = test["label"].to_numpy(), test["fold"].to_numpy()
    ships = test[f"log_odds_{chosen}"].to_numpy() if chosen and f"log_odds_{chosen}" in test else test["log_odds"].to_numpy()
    choice = calibrate.choose(ships, y, folds, method)
    score = choice.probabilities if "candidate" not in test else _per_candidate(test, choice.method, chosen, choice)
    if abs(calibrate.level(score, y)) > calibrate.LEVEL_TOLERANCE:  # folds scored by other candidates: their maps
        score = calibrate.shifted(score, calibrate.level_shift(score, y))
    log_odds = test["log_odds"].to_numpy()
    test = test.assign(score=score, uncalibrated=1.0 / (1.0 + np.exp(-log_odds)))
    calibrator = Calibrator.fit(ships, y, choice.method)
    # a fitted map has the pooled level already; the model's own probabilities ("none") get the choice's shift
    return test, choice, calibrator.with_shift(choice.shift) if choice.method == "none" else calibrator


def _per_candidate(test: pd.DataFrame, method: str, chosen: str | None, choice: Choice) -> np.ndarray:
    """Each fold's cross-fitted probabilities from the log-odds of the candidate that scored it."""
    y, folds = test["label"].to_numpy(), test["fold"].to_numpy()
    score = np.empty(len(test))
    for name in test["candidate"].unique():
        rows = (test["candidate"] == name).to_numpy()
        values = (choice.probabilities if name == chosen else
                  calibrate.cross_fitted(test[f"log_odds_{name}"].to_numpy(), y, folds, method))
        score[rows] = values[rows]
    return score


def fit_sizing(test: pd.DataFrame, settings: TrainSettings) -> tuple[pd.DataFrame, float | None, list[dict]]:
    """The good-fit cut sized by the fit's lift on the backtest rows (``tiers.good_fit`` when set), and the
    backtest rows re-graded to it: (rows, percentile or None for "fit unknown", each band's figures)."""
    config = settings.tiers
    if config.good_fit is not None or test["fit_score"].isna().all():
        return test, config.good_fit if not test["fit_score"].isna().all() else None, []
    cut, bands = good_fit_by_lift(test["fit_score"].to_numpy(), test["label"].to_numpy(), config.fit_lift)
    return regrade_fit(test, cut, config.medium_fit, test["as_of"].to_numpy(), settings.calls_per_snapshot), cut, bands


def production_model(design: Design, plan: FoldPlan, spec: FeatureSpec, settings: TrainSettings,
                     backtest: Backtest, good_fit: float | None = 0.6) -> tuple[FittedModel, Tiers]:
    """The model that ships -- the candidate best on every fold, trained on every labelled snapshot (a blend:
    both its parts) -- and its tiers (sized on the newest snapshots; ``good_fit``: see :func:`fit_sizing`)."""
    rows, lineup = design.rows(plan.final_train), backtest.lineup
    wanted = lineup.get(backtest.chosen)
    fitted: dict[str, FittedModel] = {}
    sample = sample_of(design, rows, spec, settings)
    for candidate in [*(lineup.get(p) for p in wanted.parts), wanted]:
        fitted[candidate.name] = fit_candidate(candidate, fitted, sample, spec, settings,
                                               backtest.trees.get(candidate.name))
    del sample
    model = fitted[wanted.name]
    return model, size_tiers(model, design, None, spec, settings, good_fit)


def _amount_model(design: Design, rows: np.ndarray, amounts: np.ndarray, spec: FeatureSpec) -> AmountModel:
    known = np.isfinite(amounts)  # only converting rows carry an amount: no need to copy the others
    return AmountModel.fit(design.X[rows & known], amounts[rows & known], spec)


def with_expected_value(test: pd.DataFrame, design: Design, backtest: Backtest, amounts: np.ndarray | None,
                        spec: FeatureSpec) -> pd.DataFrame:
    """The backtest rows with ``expected_value`` (score x the amount predicted by a model of the fold's own
    training rows, as its model learned); unchanged when the conversions carry no amount."""
    if amounts is None:
        return test
    shown = set(test["fold"].unique())  # the reported folds (every fold unless the first only chose the model)
    predicted = [_amount_model(design, design.rows(r.fold.train, r.fold.test[0]), amounts, spec)
                 .predict(design.X[r.rows])
                 for r in backtest.results if r.fold.index in shown]
    return test.assign(expected_value=test["score"].to_numpy() * np.concatenate(predicted))


def build_scorer(model: FittedModel, calibrator: Calibrator, tiers: Tiers, rules: RuleSet, spec: FeatureSpec,
                 design: Design, plan: FoldPlan, amounts: np.ndarray | None, settings: TrainSettings,
                 meta: dict) -> Scorer:
    """The scorer that ships: the production model with its calibration, tiers, rules, amount model and
    the drift reference of the newest population it saw."""
    amount = None if amounts is None else _amount_model(design, design.rows(plan.final_train), amounts, spec)
    # drift is judged against the newest population the model saw, not the whole history: accounts age and the
    # pool grows, so a reference of all training rows would flag account age as drift every night
    recent = sample(design.X[design.rows(design.reference(None, settings.backtest.reference_snapshots))], SAMPLE)
    reference = {name: drift.reference(recent[name]) for name in spec.names}
    reference["score"] = drift.reference(pd.Series(calibrator.apply(model.response(recent))))
    return Scorer(model, calibrator, spec, tiers, rules, settings.tiers.reasons, meta=meta, reference=reference,
                  amount=amount)
