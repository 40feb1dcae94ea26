"""The training pipeline as a table of contents: plan the snapshots -> check the data's health -> build the
features -> backtest a model per fold -> learn definitions -> calibrate -> train the production model ->
evaluate -> compare with the rules. Each step is a plain function of data in a module of its own; no files,
no MLflow (``python -m train`` and :mod:`train.tracking` do that). The result is immutable.
"""
from __future__ import annotations

import logging

import pandas as pd

from engines.dispatch import plan_features  # on the engine that loaded the tables
from features.tables import Tables

from train import health, value
from train.backtest import pool, run_backtest, sample_note
from train.capacity import at_capacity
from train.compare import compare_backtest
from train.design import build_design, fold_specs, plan_snapshots, rules_for
from train.evaluate import deciles
from train.learned import Backtested, overlap
from train.learned.folds import learn_definitions
from train.measures import counts, fold_summaries, importance, run_metrics, tier_table
from train.origin import Origin
from train.production import build_scorer, calibrate_backtest, production_model, with_expected_value
from train.result import TrainResult
from train.settings import TrainSettings

log = logging.getLogger("pql")


def run_training(tables: Tables, settings: TrainSettings, origin: Origin = Origin()) -> TrainResult:
    """Backtest, calibrate and train the production model on the tables; ``origin`` (where they came from,
    notes to keep) is recorded with the model and the run."""
    snapshots = plan_snapshots(tables, settings)
    plan, every, capacity = snapshots.plan, settings.snapshots.every_days, settings.capacity_per_week
    spec = plan_features(tables, snapshots.times[-1], settings.features)  # from rows before the newest as-of
    rules, dropped = rules_for(settings, spec)
    frame, design = build_design(tables, snapshots.times, spec, settings)
    per_snapshot, warned = health.design_health(tables, frame, design.y, design.snapshot, snapshots, settings, dropped)

    folds = run_backtest(design, plan, fold_specs(tables, plan, spec, settings), settings)
    train_rows = design.rows(plan.final_train)
    learned = learn_definitions(design, folds, train_rows, spec, settings)
    test = pool(folds, design, rules, frame, None if learned is None else learned.test_flags)
    test, choice, calibrator = calibrate_backtest(test, settings.calibration)
    model, tiers = production_model(design, plan, spec, settings, folds.trees)
    amounts = value.row_amounts(frame, tables.conversions)
    test = with_expected_value(test, design, folds, amounts, spec)
    meta = {"horizon_days": settings.label.horizon_days, "capacity_per_week": capacity, "split": plan.bounds(),
            "calibration": choice.method, **origin.meta()}
    scorer = build_scorer(model, calibrator, tiers, rules, spec, design, plan, amounts, settings, meta)

    fold_rows = fold_summaries(test, design, folds, settings)
    hand, comparison = compare_backtest(rules, design.X.iloc[folds.rows], test)
    tier_rates = tier_table(test, len(plan.test))
    constant = health.constant_columns(design.X[train_rows])
    warned = [*warned, *health.tier_warnings(tier_rates, capacity, tiers.fit_known),
              *health.backtest_warnings(hand, constant, fold_rows, every)]
    for line in warned:
        log.warning(line)
    at_cap = at_capacity(test, capacity, every)
    kept, note = sample_note(design, train_rows, settings) or (None, None)
    return TrainResult(
        scorer=scorer, plan=plan, folds=fold_rows, comparison=comparison, tier_rates=tier_rates, test=test,
        metrics=run_metrics(test, fold_rows, comparison, at_cap, None if learned is None else len(learned.table),
                            len(plan.test), settings),
        deciles=deciles(test["score"].to_numpy(), test["label"].to_numpy()),
        importance=importance(model, design, plan.test),
        health=health.run_report(per_snapshot, warned, snapshots, constant, hand, fold_rows),
        calibration={"method": choice.method, "log_loss": choice.log_loss},
        counts=counts(design, snapshots, folds, len(test), len(spec.names), kept),
        input_example=design.X[design.rows(plan.test)].head(5), notes=(note, *origin.notes) if note else origin.notes,
        frame=frame, capacity=at_cap, **_learned_parts(learned, test),
        revenue=None if amounts is None else value.revenue_table(test, amounts[folds.rows], capacity, every))


def _learned_parts(learned: Backtested | None, test: pd.DataFrame) -> dict:
    """The result's learned fields: the production list, its table and rules file, its overlap with the rules."""
    if learned is None:
        return {}
    y = test["label"].to_numpy()
    return {"learned": learned.production, "definitions": learned.table,
            "learned_rules_yaml": learned.production.to_yaml(),
            "learned_overlap": overlap(test["learned"].to_numpy(), test.filter(like="rule_"), y)}
