"""The training pipeline as plain steps on data: snapshots -> features -> split -> fit -> calibrate ->
evaluate -> compare with the rules. No files, no MLflow: ``__main__`` and :mod:`train.tracking` do that.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from features import drift
from features.build import build_training_table, plan_features
from features.errors import ConfigError
from features.rules import RuleSet
from features.snapshots import data_end_us, grid, is_labelled
from features.spec import FeatureSpec
from features.tables import Tables
from features.windows import to_us

from .calibrate import Calibrator
from .compare import compare_rules
from .evaluate import deciles, probability_metrics, volume_metrics
from .models import fit_model
from .scorer import Scorer
from .settings import TrainSettings
from .split import Split, split_snapshots
from .tiers import Tiers

log = logging.getLogger("pql")
_SAMPLE = 100_000  # rows used for tier scales, drift references and importance (plenty for stable quantiles)


@dataclass
class TrainResult:
    """What a training run learned and measured; ``test`` holds one row per test account-snapshot."""

    scorer: Scorer
    split: Split
    metrics: dict[str, float]
    comparison: pd.DataFrame
    tier_rates: pd.DataFrame
    deciles: pd.DataFrame
    importance: pd.Series
    test: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    input_example: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def spec(self) -> FeatureSpec:
        return self.scorer.spec


def _sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def labelled_snapshots(tables: Tables, settings: TrainSettings) -> list[pd.Timestamp]:
    """The training grid, restricted to snapshots whose label horizon is over."""
    end = data_end_us(tables, settings.label)
    horizon = settings.label.horizon_days
    return [t for t in grid(tables, settings.snapshots, settings.label) if is_labelled(to_us(t), horizon, end)]


def run_training(tables: Tables, settings: TrainSettings) -> TrainResult:
    """Train, calibrate and backtest one model on the tables."""
    horizon = settings.label.horizon_days
    split = split_snapshots(labelled_snapshots(tables, settings), settings.split, horizon)
    log.info("split: fit %d, validation %d, calibration %d, test %d snapshots (%d purged)", len(split.fit),
             len(split.validation), len(split.calibration), len(split.test), len(split.purged))
    # Columns are chosen from data before the newest training snapshot: nothing of the test period.
    spec = plan_features(tables, split.train[-1], settings.features)
    rules = RuleSet.from_config(settings.rules)
    rules.validate(spec.names, spec.categorical)  # an unknown feature fails here, before any work

    frame = build_training_table(tables, split.train + split.calibration + split.test, spec, horizon,
                                 progress=settings.progress)
    X = spec.align(frame)
    y = frame["label"].to_numpy()
    period = frame["as_of"]
    part = {name: period.isin(times).to_numpy() for name, times in
            (("fit", split.fit), ("validation", split.validation), ("calibration", split.calibration),
             ("test", split.test))}
    for name, mask in part.items():
        if y[mask].sum() == 0:
            raise ConfigError(f"the {name} snapshots hold no conversions: use more data or other split settings")

    model = fit_model(settings.model, X[part["fit"]], y[part["fit"]], X[part["validation"]], y[part["validation"]],
                      spec.categorical)
    calibrator = Calibrator.fit(model.estimator, X[part["calibration"]], y[part["calibration"]],
                                settings.calibration)
    train_rows = part["fit"] | part["validation"]
    train_sample = _sample(X[train_rows], _SAMPLE)
    tiers = Tiers.fit(model.contributions(train_sample), spec, settings.tiers)
    scorer = Scorer(model, calibrator, spec, tiers, rules, settings.tiers.reasons,
                    meta={"horizon_days": horizon, "split": split.bounds(), "calibration": settings.calibration})
    scorer.reference = {name: drift.reference(train_sample[name]) for name in spec.names}
    scorer.reference["score"] = drift.reference(pd.Series(calibrator.apply(model.response(train_sample))))

    test_mask = part["test"]
    X_test, y_test = X[test_mask], y[test_mask]
    scored = scorer.score(X_test, with_reasons=False)
    uncalibrated = model.estimator.predict_proba(X_test)[:, 1]
    cal_uncal = model.estimator.predict_proba(X[part["calibration"]])[:, 1]
    metrics = probability_metrics(scored["score"].to_numpy(), y_test, 10)
    snapshot = frame.loc[test_mask, "as_of"].to_numpy()
    metrics.update(volume_metrics(scored["score"].to_numpy(), y_test, snapshot, settings.evaluation.capacity_per_week,
                                  settings.evaluation.top_fractions))
    metrics.update({f"uncalibrated_{k}": v for k, v in probability_metrics(uncalibrated, y_test).items()})
    metrics.update({f"calibration_set_uncalibrated_{k}": v for k, v in
                    probability_metrics(cal_uncal, y[part["calibration"]]).items()})

    test = pd.concat([frame.loc[test_mask, ["account_id", "as_of", "label"]].reset_index(drop=True),
                      scored.reset_index(drop=True).assign(uncalibrated=uncalibrated)], axis=1)
    comparison = compare_rules(rules, X_test.assign(as_of=snapshot), scored["score"].to_numpy(), y_test)
    tier_rates = (test.assign(pql_tier=test["pql_tier"].astype("string").fillna("none"))
                  .groupby("pql_tier").agg(accounts=("label", "size"), converted=("label", "sum")).reset_index())
    tier_rates["conversion_rate"] = tier_rates["converted"] / tier_rates["accounts"]
    contrib = model.contributions(_sample(X_test, _SAMPLE // 5))
    importance = contrib.drop(columns="bias").abs().mean().sort_values(ascending=False)
    counts = {"n_fit": int(part["fit"].sum()), "n_validation": int(part["validation"].sum()),
              "n_train": int(train_rows.sum()), "n_calibration": int(part["calibration"].sum()),
              "n_test": int(test_mask.sum()), "n_features": len(spec.names)}
    metrics["base_rate"] = float(y_test.mean())
    return TrainResult(scorer, split, metrics, comparison, tier_rates, deciles(scored["score"].to_numpy(), y_test),
                       importance, test, counts, X_test.head(5))

