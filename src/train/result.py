"""What a training run learned and measured, in one immutable value (:func:`train.pipeline.run_training`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.spec import FeatureSpec

from train.folds import FoldPlan
from train.learned import LearnedDefinitions
from train.scorer import Scorer


@dataclass(frozen=True)
class TrainResult:
    """What a training run learned and measured; ``test`` holds one row per backtest account-snapshot."""

    scorer: Scorer
    plan: FoldPlan
    metrics: dict[str, float]
    folds: list[dict]
    comparison: pd.DataFrame
    tier_rates: pd.DataFrame
    deciles: pd.DataFrame
    importance: pd.Series
    test: pd.DataFrame
    health: dict
    calibration: dict
    counts: dict[str, int] = field(default_factory=dict)
    input_example: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple[str, ...] = ()
    # learned PQL definitions (train.learned): the production list, its rules file, its overlap with the
    # hand rules on the backtest (the fold lists' flags are test["learned"] and the comparison's "learned" row)
    definitions: pd.DataFrame = field(default_factory=pd.DataFrame)
    learned_rules_yaml: str = ""
    learned_overlap: pd.DataFrame = field(default_factory=pd.DataFrame)
    learned: LearnedDefinitions | None = None
    # every snapshot row of the design (account_id, as_of, label, features): rules can be evaluated on all of them
    frame: pd.DataFrame | None = None
    # revenue captured at capacity per definition and by the model (None: conversions carry no amount)
    revenue: pd.DataFrame | None = None
    # the model vs the best definition at the sales capacity (train.capacity.at_capacity; per week)
    capacity: dict = field(default_factory=dict)
    # model=auto: every candidate's metric per fold, which folds each scored, the one that ships (None: one model)
    candidates: pd.DataFrame | None = None
    # how "good fit" was sized: the fit percentile (None: fit unknown) and each band's lift (train.tiers)
    fit_sizing: dict = field(default_factory=dict)

    @property
    def spec(self) -> FeatureSpec:
        """The features the model was trained on."""
        return self.scorer.spec

    @property
    def warnings(self) -> list[str]:
        """The health report's warnings."""
        return self.health["warnings"]
