"""The training pipeline as a table of contents: plan the snapshots -> check the data's health -> build the
features -> backtest the candidate models per fold -> learn definitions -> calibrate -> train the production
model -> evaluate -> compare with the rules. Each step is a plain function of data in a module of its own; no
files, no MLflow (``python -m train`` and :mod:`train.tracking` do that). The result is immutable.
"""
from __future__ import annotations

import logging

import pandas as pd

from engines.dispatch import plan_features  # on the engine that loaded the tables
from features.tables import Tables

from train import health, value
from train.backtest import Backtest, pool, run_backtest, sample_note
from train.capacity import at_capacity
from train.compare import compare_backtest
from train.design import build_design, fold_specs, plan_snapshots, rules_for
from train.evaluate import deciles
from train.learned import Backtested, overlap
from train.learned.folds import learn_definitions
from train.measures import counts, fold_summaries, importance, run_metrics, tier_table
from train.origin import Origin
from train.production import (build_scorer, calibrate_backtest, fit_sizing, production_model,
                              with_expected_value)
from train.result import TrainResult
from train.selection import candidate_table, reported
from train.settings import TrainSettings

log = logging.getLogger("pql")


def run_training(tables: Tables, settings: TrainSettings, origin: Origin = Origin()) -> TrainResult:
    """Backtest, calibrate and train the production model on the tables; ``origin`` (where they came from,
    notes to keep) is recorded with the model and the run."""
    snapshots = plan_snapshots(tables, settings)
    plan, every, capacity = snapshots.plan, settings.snapshots.every_days, settings.capacity_per_week
    spec = plan_features(tables, snapshots.times[-1], settings.features)  # from rows before the newest as-of
    rules, dropped = rules_for(settings, spec)
    frame, design = build_design(tables, snapshots.times, spec, settings, snapshots.looks)
    per_snapshot, warned = health.design_health(tables, frame, design.y, design.snapshot, snapshots, settings, dropped)

    folds = run_backtest(design, plan, fold_specs(tables, plan, spec, settings), settings)
    train_rows = design.rows(plan.final_train)
    learned = learn_definitions(design, folds, train_rows, spec, settings)
    pooled = pool(folds, design, rules, frame, None if learned is None else learned.test_flags)
    shown = reported(pooled, folds.lineup.auto)  # with several candidates the first fold only informs the choice
    test, choice, calibrator = calibrate_backtest(pooled[shown].reset_index(drop=True), settings.calibration,
                                                  folds.chosen)
    test, good_fit, fit_bands = fit_sizing(test, settings)  # "good fit" only as far as fit separates converters
    model, tiers = production_model(design, plan, spec, settings, folds, good_fit)
    amounts = value.row_amounts(frame, tables.conversions)
    test = with_expected_value(test, design, folds, amounts, spec)
    meta = {"horizon_days": settings.label.horizon_days, "capacity_per_week": capacity, "every_days": every,
            "calls_per_snapshot": settings.calls_per_snapshot, "split": plan.bounds(), "calibration": choice.method,
            "model": folds.chosen, **origin.meta()}
    scorer = build_scorer(model, calibrator, tiers, rules, spec, design, plan, amounts, settings, meta)

    fold_rows = fold_summaries(pooled, test, design, folds, settings)
    hand, comparison = compare_backtest(rules, design.X.iloc[folds.rows[shown]], test, every)
    tier_rates = tier_table(test, int(test["as_of"].nunique()))
    constant = health.constant_columns(design.X[train_rows])
    verdict = [*health.stopped_signups(tables, fold_rows, settings.features.windows),  # they qualify the headline
               *health.unseen_warning(health.unseen_conversions(tables, snapshots.times, snapshots.looks),
                                   settings.snapshots)]
    warned = [*warned, *verdict, *health.tier_warnings(tier_rates, capacity, tiers.fit_known, fit_bands),
              *health.backtest_warnings(hand, constant, fold_rows, every)]
    for line in warned:
        log.warning(line)
    kept, note = sample_note(design, train_rows, settings) or (None, None)
    return TrainResult(
        scorer=scorer, plan=plan, folds=fold_rows, comparison=comparison, tier_rates=tier_rates, test=test,
        deciles=deciles(test["score"].to_numpy(), test["label"].to_numpy()),
        importance=importance(model, design, plan.test),
        health=health.run_report(per_snapshot, warned, snapshots, constant, hand, fold_rows, tables, verdict),
        calibration={"method": choice.method, "log_loss": choice.log_loss, "level": choice.level,
                     "shift": choice.shift, "collapsed": list(choice.collapsed)},
        counts=counts(design, snapshots, folds, len(test), len(spec.names), kept,
                      int((frame["as_of"].to_numpy() != design.snapshot).sum())),
        input_example=design.X[design.rows(plan.test)].head(5), notes=(note, *origin.notes) if note else origin.notes,
        frame=frame, **_learned_parts(learned, test), fit_sizing={"good_fit": good_fit, "bands": fit_bands},
        revenue=None if amounts is None else value.revenue_table(test, amounts[folds.rows[shown]], capacity, every),
        **_verdicts(test, pooled, folds, fold_rows, comparison, learned, settings))


def _verdicts(test: pd.DataFrame, pooled: pd.DataFrame, folds: Backtest, fold_rows: list[dict],
              comparison: pd.DataFrame, learned: Backtested | None, settings: TrainSettings) -> dict:
    """The result's comparisons: at capacity, the candidates (``model=auto``) and every metric they give."""
    every = settings.snapshots.every_days
    at_cap = at_capacity(test, settings.capacity_per_week, every)
    candidates = candidate_table(pooled, folds, settings.calls_per_snapshot, every) if folds.lineup.auto else None
    metrics = run_metrics(test, fold_rows, comparison, at_cap, None if learned is None else len(learned.table),
                          int(test["as_of"].nunique()), settings, candidates)
    return {"capacity": at_cap, "candidates": candidates, "metrics": metrics}


def _learned_parts(learned: Backtested | None, test: pd.DataFrame) -> dict:
    """The result's learned fields: the production list, its table and rules file, its overlap with the rules."""
    if learned is None:
        return {}
    y = test["label"].to_numpy()
    return {"learned": learned.production, "definitions": learned.table,
            "learned_rules_yaml": learned.production.to_yaml(),
            "learned_overlap": overlap(test["learned"].to_numpy(), test.filter(like="rule_"), y)}
