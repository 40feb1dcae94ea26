"""The training pipeline as plain steps on data: snapshots -> health -> features -> rolling backtest ->
calibration -> production model -> evaluation against the rules. No files, no MLflow: :mod:`train.job`
and :mod:`train.tracking` do that.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import drift
from features import naming as nm
from engines.dispatch import build_training_table, plan_features  # on the engine that loaded the tables
from features.errors import ConfigError
from rules.language import RuleError, RuleSet
from features.snapshots import data_end_us, grid, labelled
from features.spec import FeatureSpec
from features.tables import Tables

from train import calibrate, definitions, health, value
from train.backtest import Design, FoldResult, fit_on, known_at, negative_sample, run_fold, size_tiers
from train.calibrate import Calibrator
from train.capacity import at_capacity
from train.compare import compare_flags, compare_rules
from train.evaluate import deciles, probability_metrics, rate_interval, top_k_flags, volume_metrics
from train.folds import FoldPlan, plan_folds
from train.scorer import Scorer
from train.settings import TrainSettings

log = logging.getLogger("pql")
_SAMPLE = 100_000  # rows used for drift references and importance (plenty for stable quantiles)
FOLD_METRICS = ("roc_auc", "pr_auc", "log_loss", "ece", "precision_at_capacity", "lift_at_capacity")


@dataclass
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
    notes: list[str] = field(default_factory=list)
    # learned PQL definitions (train.definitions): the production list, its rules file, its overlap with the
    # hand rules on the backtest (the fold lists' flags are test["learned"] and the comparison's "learned" row)
    definitions: pd.DataFrame = field(default_factory=pd.DataFrame)
    learned_rules_yaml: str = ""
    learned_overlap: pd.DataFrame = field(default_factory=pd.DataFrame)
    learned: definitions.LearnedDefinitions | None = None
    # every snapshot row of the design (account_id, as_of, label, features): rules can be evaluated on all of them
    frame: pd.DataFrame | None = None
    # revenue captured at capacity per definition and by the model (None: conversions carry no amount)
    revenue: pd.DataFrame | None = None
    # the model vs the best definition at the sales capacity (train.capacity.at_capacity; per week)
    capacity: dict = field(default_factory=dict)

    @property
    def spec(self) -> FeatureSpec:
        return self.scorer.spec

    @property
    def warnings(self) -> list[str]:
        return self.health["warnings"]


def _rules_for(settings: TrainSettings, spec: FeatureSpec) -> tuple[RuleSet, list[str]]:
    """The rule set, checked against the features before any work (an unknown feature fails here).
    Rules the source brought along (the demo's, by rules=auto) that its variant cannot evaluate are left out."""
    rules = RuleSet.from_config(settings.rules)
    if not settings.rules_brought:
        rules.validate(spec.names, spec.categorical)
        return rules, []
    keep, dropped = {}, []
    for name, definition in settings.rules.items():
        try:
            RuleSet.from_config({name: definition}).validate(spec.names, spec.categorical)
            keep[name] = definition
        except RuleError:
            dropped.append(name)
    return RuleSet.from_config(keep), dropped


@contextmanager
def _quiet():
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _design(tables: Tables, times: list[pd.Timestamp], spec: FeatureSpec, horizon: int,
            progress: bool) -> tuple[pd.DataFrame, Design]:
    frame = build_training_table(tables, times, spec, horizon, progress=progress)
    snapshot = frame["as_of"].to_numpy().astype("datetime64[us]")
    return frame, Design(spec.align(frame), frame["label"].to_numpy(), snapshot, sorted(pd.Timestamp(t) for t in times))


def tier_table(test: pd.DataFrame, n_snapshots: int) -> pd.DataFrame:
    """Accounts, conversions, weekly volume and conversion rate (95% Wilson interval) of each PQL tier."""
    tier = test["pql_tier"].astype("string").fillna("none")
    table = test.assign(pql_tier=tier).groupby("pql_tier").agg(accounts=("label", "size"),
                                                               converted=("label", "sum")).reset_index()
    table["per_snapshot"] = table["accounts"] / max(n_snapshots, 1)
    table["conversion_rate"] = table["converted"] / table["accounts"]
    bounds = [rate_interval(c, n) for c, n in zip(table["converted"], table["accounts"])]
    table["rate_low"], table["rate_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return table


def _tier_warnings(table: pd.DataFrame, capacity: int, fit_known: bool) -> list[str]:
    out = []
    rate = dict(zip(table["pql_tier"], table["conversion_rate"]))
    if not fit_known:
        out.append("no usable fit attributes (none in accounts, or the model gives them no weight): fit is unknown "
                   "and the PQL tiers use intent only (tier 1 = high intent; tiers 2 and 3 stay empty)")
    if "1" in rate and "3" in rate and rate["1"] <= rate["3"]:
        out.append(f"PQL tier 1 does not convert better than tier 3 on the backtest ({rate['1']:.1%} vs {rate['3']:.1%}): "
                   f"fit does not separate converters here; tiers.good_fit changes the fit cut")
    volume = dict(zip(table["pql_tier"], table["per_snapshot"]))
    if volume.get("1", 0) < 0.5 * capacity:
        out.append(f"PQL tier 1 holds {volume.get('1', 0):.0f} accounts a week on the backtest against a capacity of "
                   f"{capacity} (too few accounts with good fit and high intent); capacity.per_week sizes it")
    return out


def _pool(results: list[FoldResult], design: Design, rules: RuleSet, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per backtest account-snapshot: ids, fold, label, raw log-odds, tiers, rule flags."""
    parts = []
    for r in results:
        part = frame.loc[r.rows, ["account_id", "as_of", "label"]].reset_index(drop=True)
        part.insert(2, "fold", r.fold.index)
        part["log_odds"] = r.log_odds
        if r.baseline is not None:
            part["baseline_log_odds"] = r.baseline
        parts.append(pd.concat([part, r.tiers], axis=1))
    test = pd.concat(parts, ignore_index=True)
    rows = np.concatenate([r.rows.nonzero()[0] for r in results])
    flags = rules.evaluate(design.X.iloc[rows]).reset_index(drop=True)
    return pd.concat([test, flags], axis=1)


def run_training(tables: Tables, settings: TrainSettings) -> TrainResult:
    """Backtest, calibrate and train the production model on the tables."""
    horizon, cfg = settings.label.horizon_days, settings.backtest
    end = data_end_us(tables, settings.label)
    times = grid(tables, settings.snapshots, settings.label)
    done = labelled(times, horizon, end)
    censored = health.left_censored(tables, done, horizon) if cfg.exclude_censored else []
    plan = plan_folds([t for t in done if t not in censored], cfg, horizon)
    log.info("backtest: %d folds over %d test snapshots; the production model learns from %d snapshots",
             len(plan.folds), len(plan.test), len(plan.final_train))
    # Columns are chosen from rows before the newest snapshot that can reach a feature.
    spec = plan_features(tables, times[-1], settings.features)
    rules, dropped = _rules_for(settings, spec)

    frame, design = _design(tables, times, spec, horizon, settings.progress)
    is_labelled = np.isin(design.snapshot, np.array(done, dtype="datetime64[us]"))
    per_snapshot = health.snapshot_table(frame, design.y, is_labelled, settings.snapshots.every_days, cfg.stale_days)
    warned = health.warnings(tables, per_snapshot, censored, horizon, cfg.stale_warn, end)
    if dropped:
        warned.append(f"the demo's rules {dropped} read features this demo variant lacks and are left out "
                      f"(rules=none or rules.file=PATH chooses the rules yourself)")

    # each fold's model gets the columns a plan at its first as-of would have chosen (point in time)
    with _quiet():  # the production plan above already said what planning has to say
        fold_specs = [known_at(spec, plan_features(tables, f.test[0], settings.features)) for f in plan.folds]
    # backtest.trees=once: early stopping picks the number of trees once, on the oldest fold's training rows (point
    # in time for every later model); the later folds and the production model reuse it (scaled to their rows)
    # instead of probing. per_fold: each fold probes its own rows; the production model reuses the newest count.
    once = settings.backtest.trees == "once"
    results, trees = [], None
    for f, s in zip(plan.folds, fold_specs):
        r = run_fold(f, design, s, settings, trees if once else None, results[-1] if results else None)
        if r is not None:
            results.append(r)
            found = r.tree_count if r.tree_count is not None and r.tree_count.best is not None else None
            trees = (trees or found) if once else (found or trees)
    if not results:
        raise ConfigError("no backtest fold has a conversion to learn from: use more data or a longer "
                          "label.horizon_days (see the health warnings above)")
    test = _pool(results, design, rules, frame)
    learned = None
    if settings.learned.enabled:  # each fold's list learns from its model's rows, with its columns
        spec_of = {f.index: s for f, s in zip(plan.folds, fold_specs)}
        learned = definitions.backtest(
            design.X, design.y, design.snapshot, [(design.rows(r.fold.train), r.rows, spec_of[r.fold.index])
                                                  for r in results],
            design.rows(plan.final_train), spec, settings.capacity_per_snapshot, settings.learned,
            cfg.reference_snapshots)
        test["learned"] = learned.test_flags
    y = test["label"].to_numpy()
    choice = calibrate.choose(test["log_odds"].to_numpy(), y, test["fold"].to_numpy(), settings.calibration)
    test["score"] = choice.probabilities
    test["uncalibrated"] = 1.0 / (1.0 + np.exp(-test["log_odds"].to_numpy()))
    calibrator = Calibrator.fit(test["log_odds"].to_numpy(), y, choice.method)

    train_rows = design.rows(plan.final_train)
    model = fit_on(design, train_rows, settings.model, spec, settings, trees)
    tiers = size_tiers(model, design, None, spec, settings)
    amounts = value.row_amounts(frame, tables.conversions)
    if amounts is not None:  # each fold's amount model learns from its own training rows, as its model did
        known = np.isfinite(amounts)  # (only converting rows carry an amount: no need to copy the others)
        test["expected_value"] = test["score"].to_numpy() * np.concatenate([
            value.AmountModel.fit(design.X[design.rows(r.fold.train) & known],
                                  amounts[design.rows(r.fold.train) & known], spec)
            .predict(design.X[r.rows]) for r in results])
    scorer = Scorer(model, calibrator, spec, tiers, rules, settings.tiers.reasons,
                    meta={"horizon_days": horizon, "capacity_per_week": settings.capacity_per_week, "split": plan.bounds(),
                          "calibration": choice.method},
                    amount=None if amounts is None else value.AmountModel.fit(design.X[train_rows & known],
                                                                               amounts[train_rows & known], spec))
    # drift is judged against the newest population the model saw, not the whole history: accounts age and the
    # pool grows, so a reference of all training rows would flag account age as drift every night
    recent = _sample(design.X[design.rows(design.reference(None, cfg.reference_snapshots))], _SAMPLE)
    scorer.reference = {name: drift.reference(recent[name]) for name in spec.names}
    scorer.reference["score"] = drift.reference(pd.Series(calibrator.apply(model.response(recent))))

    snapshot = test["as_of"].to_numpy()
    capacity = settings.capacity_per_week
    # rankings use the raw log-odds: calibration keeps their order, and they have no ties
    rank = test["log_odds"].to_numpy()
    metrics = probability_metrics(test["score"].to_numpy(), y, settings.backtest.ece_bins)
    metrics.update(_volume(rank, y, snapshot, settings))
    metrics.update({f"uncalibrated_{k}": v for k, v in probability_metrics(test["uncalibrated"].to_numpy(), y).items()})
    if "baseline_log_odds" in test:
        base = calibrate.cross_fitted(test["baseline_log_odds"].to_numpy(), y, test["fold"].to_numpy(), "sigmoid")
        metrics.update({f"baseline_{k}": v for k, v in probability_metrics(base, y).items() if k in ("roc_auc", "pr_auc")})
        metrics.update({f"baseline_{k}": v for k, v in _volume(test["baseline_log_odds"].to_numpy(), y, snapshot,
                                                                settings).items() if k == "precision_at_capacity"})
    folds = [_fold_summary(r, test[test["fold"] == r.fold.index], design, settings) for r in results]
    for name in FOLD_METRICS:
        values = np.array([f[name] for f in folds], dtype=float)
        metrics[f"{name}_fold_mean"], metrics[f"{name}_fold_std"] = float(np.nanmean(values)), float(np.nanstd(values))

    comparison = compare_rules(rules, design.X.iloc[np.concatenate([r.rows.nonzero()[0] for r in results])]
                               .assign(as_of=snapshot), rank, y)
    tier_rates = tier_table(test, len(plan.test))
    warned += _tier_warnings(tier_rates, capacity, tiers.fit_known)
    for row in comparison.itertuples():
        if row.flagged == 0:
            warned.append(f"rule '{row.name}' flags nobody in the backtest: its figures are 0; check its expression "
                          f"against the feature names (python -m features) or the period (fresh accounts per fold below)")
    constant = health.constant_columns(design.X[train_rows])
    if constant:
        warned.append(f"{len(constant)} feature columns are constant over the training snapshots and cannot help "
                      f"(e.g. {constant[:5]}); features.exclude_columns / features.event_types leave them out")
    for f in folds:
        if f["fresh_accounts"] == 0:
            warned.append(f"fold {f['fold']} ({f['test'][0][:10]} .. {f['test'][1][:10]}) holds no account younger "
                          f"than {settings.snapshots.every_days} days: rules about fresh accounts cannot flag anyone there")
    for line in warned:
        log.warning(line)

    sample = _sample(design.X[design.rows(plan.test)], _SAMPLE // 5)
    importance = model.contributions(sample).drop(columns="bias").abs().mean().sort_values(ascending=False)
    counts = {"n_train": int(train_rows.sum()), "n_test": int(len(test)), "n_features": len(spec.names),
              "n_folds": len(results), "n_snapshots": len(times), "n_train_snapshots": len(plan.final_train),
              "n_censored_snapshots": len(censored)}
    metrics["base_rate"] = float(y.mean())
    health_report = health.report(per_snapshot, warned, {
        "censored_snapshots": [str(pd.Timestamp(t).date()) for t in censored], "constant_columns": constant,
        "rules_flagging_nobody": [r for r, n in zip(comparison.get("name", []), comparison.get("flagged", [])) if n == 0],
        "fresh_accounts_per_fold": {f["fold"]: f["fresh_accounts"] for f in folds},
        "share_of_history_for_training": len(plan.final_train) / max(len(times), 1)})
    result = TrainResult(scorer, plan, metrics, folds, comparison, tier_rates, deciles(test["score"].to_numpy(), y),
                         importance, test, health_report, {"method": choice.method, "log_loss": choice.log_loss},
                         counts, design.X[design.rows(plan.test)].head(5), frame=frame)
    if learned is not None:
        result.comparison = pd.concat([comparison, compare_flags(test[["learned"]], snapshot, rank, y)],
                                      ignore_index=True)
        result.learned, result.definitions = learned.production, learned.table
        result.learned_rules_yaml = learned.production.to_yaml()
        result.learned_overlap = definitions.overlap(test["learned"].to_numpy(), test.filter(like="rule_"), y)
        row = result.comparison.iloc[-1]
        metrics.update(learned_precision=row["precision"], learned_model_precision=row["model_precision"],
                       learned_per_snapshot=row["flagged"] / max(len(plan.test), 1), learned_rules=len(learned.table))
    result.capacity = at_capacity(test, capacity, settings.snapshots.every_days)
    if result.capacity.get("added_conversions_per_week") is not None:
        metrics["added_conversions_per_week_at_capacity"] = result.capacity["added_conversions_per_week"]
    share = cfg.share_for(int(np.count_nonzero(train_rows & (design.y == 0))))
    if share < 1:  # said in the run: the models saw a sample, weighted back to the full table's balance
        kept = int(negative_sample(train_rows, design.y, share)[0].sum())
        counts["n_train_sampled"] = kept
        why = (f"backtest.negative_share=auto: each model learns from at most backtest.max_negatives="
               f"{cfg.max_negatives:,} of them; backtest.negative_share=1.0 keeps every row, slower"
               if cfg.negative_share == "auto" else "backtest.negative_share")
        result.notes.append(f"the production model learned from {share:.0%} of its non-converting rows, each weighted "
                            f"{1 / share:.4g} ({why}): {kept:,} of {counts['n_train']:,} rows")
    if amounts is not None:
        result.revenue = value.revenue_table(test, amounts[np.concatenate([r.rows.nonzero()[0] for r in results])],
                                             capacity, settings.snapshots.every_days)
    return result


def _volume(rank: np.ndarray, y: np.ndarray, snapshot: np.ndarray, settings: TrainSettings) -> dict[str, float]:
    return volume_metrics(rank, y, snapshot, settings.capacity_per_week, settings.backtest.top_fractions)


def _fold_summary(result: FoldResult, test: pd.DataFrame, design: Design, settings: TrainSettings) -> dict:
    y = test["label"].to_numpy()
    age = design.X[nm.DAYS_SINCE_SIGNUP].to_numpy()[result.rows]
    m = probability_metrics(test["score"].to_numpy(), y, settings.backtest.ece_bins)
    m.update(_volume(test["log_odds"].to_numpy(), y, test["as_of"].to_numpy(), settings))
    flags = top_k_flags(test["log_odds"].to_numpy(), test["as_of"].to_numpy(), settings.capacity_per_week)
    n_snap = len(result.fold.test)
    return {"fold": result.fold.index, **result.fold.bounds(), "n_train": result.n_train, "n_test": int(len(test)),
            "trees": result.trees, "n_features": len(result.features), "positives": int(y.sum()),
            "tier1_per_snapshot": float((test["pql_tier"] == 1).sum() / n_snap),
            "fresh_accounts": int((age < settings.snapshots.every_days).sum()), "flagged_at_capacity": int(flags.sum()),
            **{k: m[k] for k in (*FOLD_METRICS, "brier", "base_rate", "mean_score", "calibration_in_the_large")}}
