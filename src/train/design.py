"""From the tables to what the models learn from: the as-of grid and its folds, the feature table (the
design), the rule set checked against its columns, and the columns each fold's model may have.

Time is named once in :mod:`features.snapshots` (grid, labels, the end of the data); the folds in
:mod:`train.folds`. Nothing here fits a model.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engines.dispatch import build_training_table, plan_features  # on the engine that loaded the tables
from features.snapshots import FIRST_LOOK_AGE_US, data_end_us, first_looks, grid, labelled
from features.spec import FeatureSpec
from features.tables import Tables
from rules.language import RuleError, RuleSet

from train import health
from train.folds import FoldPlan, Snapshots, plan_folds
from train.settings import TrainSettings

log = logging.getLogger("pql")


@dataclass(frozen=True)
class Design:
    """The feature table as the models see it: features, labels, each row's snapshot (a first look counts in
    its window's snapshot) and when its label is known."""

    X: pd.DataFrame
    y: np.ndarray
    snapshot: np.ndarray   # datetime64[us] per row
    times: list[pd.Timestamp]  # every as-of of the grid, oldest first
    known: np.ndarray | None = None  # datetime64[us] per row: the instant its label is known (look + horizon)

    def rows(self, times: list[pd.Timestamp], known_by: pd.Timestamp | None = None) -> np.ndarray:
        """A boolean mask of the rows at the given snapshots; with ``known_by``, only those whose label is known
        by then (a fold's training rows: a first look late in a matured snapshot's window may not be)."""
        mask = np.isin(self.snapshot, np.array(times, dtype="datetime64[us]"))
        if known_by is not None and self.known is not None:
            mask &= self.known <= np.datetime64(pd.Timestamp(known_by), "us")
        return mask

    def reference(self, before: pd.Timestamp | None, n: int) -> list[pd.Timestamp]:
        """The newest ``n`` as-ofs before ``before`` (all as-ofs when None): a model's recent population."""
        times = [t for t in self.times if before is None or t < before]
        return times[-n:]


def plan_snapshots(tables: Tables, settings: TrainSettings) -> Snapshots:
    """The as-of grid, its labelled and censored snapshots, and the rolling backtest's folds."""
    horizon, cfg = settings.label.horizon_days, settings.backtest
    end = data_end_us(tables, settings.label)
    times = grid(tables, settings.snapshots, settings.label)
    done = labelled(times, horizon, end)
    censored = health.left_censored(tables, done, horizon) if cfg.exclude_censored else []
    plan = plan_folds([t for t in done if t not in censored], cfg, horizon)
    log.info("backtest: %d folds over %d test snapshots; the production model learns from %d snapshots",
             len(plan.folds), len(plan.test), len(plan.final_train))
    return Snapshots(times, done, censored, end, plan, first_looks(tables, times, settings.snapshots, end, horizon))


def rules_for(settings: TrainSettings, spec: FeatureSpec) -> tuple[RuleSet, list[str]]:
    """The rule set, checked against the features before any work (an unknown feature fails here), and the
    names of the rules left out: rules the source brought along (the demo's, by rules=auto) that its
    variant cannot evaluate."""
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


def build_design(tables: Tables, times: list[pd.Timestamp], spec: FeatureSpec, settings: TrainSettings,
                 looks: dict[pd.Timestamp, pd.Timestamp] | None = None) -> tuple[pd.DataFrame, Design]:
    """The training table at every as-of (account_id, as_of, label, features) and its design; with ``looks``
    (first look -> grid snapshot, :func:`features.snapshots.first_looks`) also each account's first look, in
    its snapshot's window (``Design.snapshot``), the frame's ``as_of`` being the instant it was looked at."""
    horizon = settings.label.horizon_days
    frame = build_training_table(tables, times, spec, horizon, progress=settings.progress)
    if looks:
        extra = build_training_table(tables, sorted(looks), spec, horizon, max_age_us=FIRST_LOOK_AGE_US)
        frame = _by_instant(pd.concat([frame, extra], ignore_index=True))
    looked = frame["as_of"].to_numpy().astype("datetime64[us]")
    known = looked + np.timedelta64(horizon, "D")
    return frame, Design(spec.align(frame), frame["label"].to_numpy(), window_of(looked, looks or {}),
                         sorted(pd.Timestamp(t) for t in times), known)


def _by_instant(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by as-of, then account id (each part already is, and their as-ofs differ: a stable sort on
    the instant alone merges them)."""
    order = np.argsort(frame["as_of"].to_numpy().view("int64"), kind="stable")
    return frame.take(order).reset_index(drop=True)


def window_of(instants: np.ndarray, looks: dict[pd.Timestamp, pd.Timestamp]) -> np.ndarray:
    """Each row's grid snapshot: its own as-of, or for a first look the snapshot whose window holds it."""
    out = np.asarray(instants, dtype="datetime64[us]").copy()
    if not looks:
        return out
    keys = np.array(sorted(looks), dtype="datetime64[us]")
    windows = np.array([looks[pd.Timestamp(k)] for k in keys], dtype="datetime64[us]")
    at = np.minimum(np.searchsorted(keys, out), len(keys) - 1)
    hit = keys[at] == out
    out[hit] = windows[at[hit]]
    return out


def known_at(spec: FeatureSpec, planned: FeatureSpec) -> FeatureSpec:
    """The spec's columns that a plan made at an earlier instant also has: the column *set* a fold's model
    would have had in production (an event type first seen after the fold began gets no column)."""
    names = set(planned.names)
    return replace(spec, columns=tuple(c for c in spec.columns if c.name in names))


@contextmanager
def _quiet():
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def fold_specs(tables: Tables, plan: FoldPlan, spec: FeatureSpec, settings: TrainSettings) -> list[FeatureSpec]:
    """Each fold's columns: those a plan at its first test as-of would have chosen (point in time)."""
    with _quiet():  # the production plan already said what planning has to say
        return [known_at(spec, plan_features(tables, f.test[0], settings.features)) for f in plan.folds]
