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
from train.backtest import Backtest, fit_on, size_tiers
from train.calibrate import Calibrator, Choice
from train.design import Design
from train.folds import FoldPlan
from train.models import FittedModel, TreeCount
from train.scorer import Scorer
from train.settings import TrainSettings
from train.tiers import Tiers
from train.value import AmountModel

SAMPLE = 100_000  # rows used for drift references and importance (plenty for stable quantiles)


def sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows of ``frame``, drawn with a fixed seed."""
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def calibrate_backtest(test: pd.DataFrame, method: str) -> tuple[pd.DataFrame, Choice, Calibrator]:
    """The calibration ``method`` (``auto``: chosen by held-out log loss) cross-fitted on the pooled folds:
    the backtest rows with their calibrated ``score`` and ``uncalibrated`` probability, the choice, and the
    calibrator fitted on every fold's predictions (the one that ships)."""
    log_odds, y = test["log_odds"].to_numpy(), test["label"].to_numpy()
    choice = calibrate.choose(log_odds, y, test["fold"].to_numpy(), method)
    test = test.assign(score=choice.probabilities, uncalibrated=1.0 / (1.0 + np.exp(-log_odds)))
    return test, choice, Calibrator.fit(log_odds, y, choice.method)


def production_model(design: Design, plan: FoldPlan, spec: FeatureSpec, settings: TrainSettings,
                     trees: TreeCount | None) -> tuple[FittedModel, Tiers]:
    """The model that ships, trained on every labelled snapshot, and its tiers (sized on the newest ones)."""
    model = fit_on(design, design.rows(plan.final_train), settings.model, spec, settings, trees)
    return model, size_tiers(model, design, None, spec, settings)


def _amount_model(design: Design, rows: np.ndarray, amounts: np.ndarray, spec: FeatureSpec) -> AmountModel:
    known = np.isfinite(amounts)  # only converting rows carry an amount: no need to copy the others
    return AmountModel.fit(design.X[rows & known], amounts[rows & known], spec)


def with_expected_value(test: pd.DataFrame, design: Design, backtest: Backtest, amounts: np.ndarray | None,
                        spec: FeatureSpec) -> pd.DataFrame:
    """The backtest rows with ``expected_value`` (score x the amount predicted by a model of the fold's own
    training rows, as its model learned); unchanged when the conversions carry no amount."""
    if amounts is None:
        return test
    predicted = [_amount_model(design, design.rows(r.fold.train), amounts, spec).predict(design.X[r.rows])
                 for r in backtest.results]
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
