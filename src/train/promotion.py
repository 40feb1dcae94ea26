"""Whether a new model may replace the champion: the same rows, the same label, the same data.

Each run's own backtest metric is not comparable with another run's (other test weeks, another base
rate). The champion's stored model is therefore scored on the new model's backtest rows it had not
learned from (as-of at least one horizon after its training ended) and both are measured there. When
the champion has learned from every such row (a retrain on the same data), both runs' out-of-time
backtest predictions are compared on their common rows instead: never a model on rows whose labels it
saw. A champion trained for another horizon or on another data source is never compared silently: promotion is
refused with the reason unless forced (``promotion.mode=force``). Sweeps (``--multirun``) never
move the champion unless forced.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from engines.dispatch import build_features  # on the engine that loaded the tables
from features.errors import PipelineError
from features.snapshots import FIRST_LOOK_AGE_US
from features.tables import Tables

from train import tracking
from train.config import CHAMPION_METRICS, PromotionConfig, TrackingConfig
from train.evaluate import probability_metrics, volume_metrics

MODES = ("auto", "never", "force")


@dataclass(frozen=True)
class Decision:
    """Whether a new model replaces the champion, why, and the figures it was decided on."""

    promote: bool
    reason: str
    metric: str = ""
    challenger: float | None = None
    champion: float | None = None
    rows: int = 0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The decision as ``summary.json``'s ``promotion`` section."""
        return {"promote": self.promote, "reason": self.reason, "metric": self.metric,
                "challenger": self.challenger, "champion": self.champion, "rows": self.rows, **self.details}


def incompatibility(champion: dict, challenger: dict) -> str | None:
    """Why two models' scores do not mean the same thing (None: they do). ``champion``/``challenger``
    are bundle metadata: ``horizon_days`` and ``data_fingerprint``."""
    if champion.get("horizon_days") != challenger.get("horizon_days"):
        return (f"the champion predicts conversion within {champion.get('horizon_days')} days, this model within "
                f"{challenger.get('horizon_days')} days")
    if champion.get("data_fingerprint") and champion.get("data_fingerprint") != challenger.get("data_fingerprint"):
        return "the champion was trained on another data source"
    return None


def metric_value(name: str, score: np.ndarray, y: np.ndarray, snapshot: np.ndarray, capacity: int) -> float:
    """One champion metric of scores on rows (volume metrics per snapshot, like the backtest)."""
    if name in ("precision_at_capacity", "lift_at_capacity"):
        return volume_metrics(score, y, snapshot, capacity, ())[name]
    return probability_metrics(score, y)[name]


PROMOTION_REPLICATES = 200  # a metric recomputed per replicate (PR AUC is no sum over accounts): fewer draws


def difference(metric: str, new: np.ndarray, old: np.ndarray, y: np.ndarray, snapshot: np.ndarray,
               accounts: np.ndarray, capacity: int, replicates: int = PROMOTION_REPLICATES) -> dict:
    """The challenger's metric minus the champion's on the same rows, with its 95% interval (a paired bootstrap
    over the accounts, :mod:`train.verdict`: a drawn account brings all its rows, to both models) and the words
    that follow it (``better`` reads the sign: for log loss and Brier lower is better)."""
    from train.verdict import CONFIDENCE, SEED, weights, words

    point = metric_value(metric, new, y, snapshot, capacity) - metric_value(metric, old, y, snapshot, capacity)
    codes, units = pd.factorize(pd.Series(np.asarray(accounts)))
    draws = []
    for w in weights(len(units), replicates, SEED):
        keep = w[codes] > 0
        rows = np.repeat(np.flatnonzero(keep), w[codes][keep].astype(int))
        if len(np.unique(y[rows])) == 2:
            draws.append(metric_value(metric, new[rows], y[rows], snapshot[rows], capacity)
                         - metric_value(metric, old[rows], y[rows], snapshot[rows], capacity))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (np.percentile(draws, [tail, 100 - tail]) if draws else (np.nan, np.nan))
    sign = 1.0 if CHAMPION_METRICS[metric] else -1.0  # "better" as a positive number
    said = words(sign * point, *sorted((sign * low, sign * high)), unit=metric, digits=4, up="better", down="worse",
                 verb="")
    return {"difference": float(point), "difference_low": float(low), "difference_high": float(high),
            "verdict": said}


def unseen_rows(as_of: pd.Series, champion_train_end: str | None, horizon_days: int) -> np.ndarray:
    """Rows whose labels the champion cannot have learned (as-of at least one horizon after its last
    training snapshot); all rows when there are none such."""
    if not champion_train_end:
        return np.ones(len(as_of), dtype=bool)
    cutoff = pd.Timestamp(champion_train_end).tz_localize(None) + pd.Timedelta(days=horizon_days)
    unseen = (pd.to_datetime(as_of) >= cutoff).to_numpy()
    return unseen if unseen.any() else np.ones(len(as_of), dtype=bool)


def has_unseen_rows(as_of: pd.Series, champion_train_end: str | None, horizon_days: int) -> bool:
    """True when some rows are at least one horizon after the champion's last training snapshot."""
    if not champion_train_end:
        return False
    cutoff = pd.Timestamp(champion_train_end).tz_localize(None) + pd.Timedelta(days=horizon_days)
    return bool((pd.to_datetime(as_of) >= cutoff).any())


def compare_backtests(test: pd.DataFrame, champion_test: pd.DataFrame, metric: str, capacity: int) -> Decision:
    """Both models' out-of-time backtest predictions on the rows both backtests scored: the fair comparison
    when the champion has learned from every row of the new backtest (e.g. a retrain on the same data)."""
    both = test.merge(champion_test[["account_id", "as_of", "score"]].rename(columns={"score": "champion_score"}),
                      on=["account_id", "as_of"], how="inner")
    if both.empty:
        return Decision(False, "no backtest rows in common with the champion and none it had not learned from: "
                               "no fair comparison (promotion.mode=force replaces it anyway)", metric)
    y, snap = both["label"].to_numpy(), both["as_of"].to_numpy()
    new = metric_value(metric, both["score"].to_numpy(), y, snap, capacity)
    old = metric_value(metric, both["champion_score"].to_numpy(), y, snap, capacity)
    better = bool(np.isfinite(new)) and (not np.isfinite(old) or (new > old if CHAMPION_METRICS[metric] else new < old))
    gap = difference(metric, both["score"].to_numpy(), both["champion_score"].to_numpy(), y, snap,
                     both["account_id"].to_numpy(), capacity)
    verdict = "beats" if better else "does not beat"
    return Decision(better, f"{metric} {new:.4f} {verdict} the champion's {old:.4f} ({gap['verdict']}), both "
                            f"out-of-time backtest predictions on the same {len(both):,} rows", metric, float(new),
                    float(old), len(both), gap)


def compare(test: pd.DataFrame, champion_score: np.ndarray, metric: str, capacity: int,
            champion_train_end: str | None, horizon_days: int) -> Decision:
    """Both models on the same backtest rows: the challenger's out-of-time scores vs the champion's."""
    rows = unseen_rows(test["as_of"], champion_train_end, horizon_days)
    y, snap = test["label"].to_numpy()[rows], test["as_of"].to_numpy()[rows]
    new = metric_value(metric, test["score"].to_numpy()[rows], y, snap, capacity)
    old = metric_value(metric, np.asarray(champion_score)[rows], y, snap, capacity)
    higher = CHAMPION_METRICS[metric]
    better = bool(np.isfinite(new)) and (not np.isfinite(old) or (new > old if higher else new < old))
    seen = "" if rows.all() and champion_train_end else " (rows the champion had not learned from)"
    accounts = test["account_id"].to_numpy() if "account_id" in test else np.arange(len(test))
    gap = difference(metric, test["score"].to_numpy()[rows], np.asarray(champion_score)[rows], y, snap,
                     accounts[rows], capacity)
    verdict = "beats" if better else "does not beat"
    return Decision(better, f"{metric} {new:.4f} {verdict} the champion's {old:.4f} ({gap['verdict']}) on the same "
                            f"{int(rows.sum()):,} backtest rows{seen}", metric, float(new), float(old), int(rows.sum()),
                    gap)


def decide(result, tables: Tables, version: str, tracking_config: TrackingConfig, promotion: PromotionConfig,
           capacity: int, sweep: bool) -> Decision:
    """Whether the new version (``result``: its :class:`~train.result.TrainResult`) replaces the champion:
    both scored on the new model's backtest rows."""
    force = promotion.mode == "force"
    if promotion.mode == "never":
        return Decision(False, "promotion.mode=never")
    if sweep and not force:
        return Decision(False, "a --multirun sweep never moves the champion (promotion.mode=force does)")
    current = tracking.current_champion(tracking_config)
    if current is None:
        return Decision(True, "there is no champion yet")
    old_version, champion = current
    if str(old_version) == str(version):
        return Decision(True, "it is the champion already")
    why = incompatibility(champion.meta, result.scorer.meta)
    if why:
        return Decision(force, f"not compared with champion v{old_version}: {why}"
                               + ("; replaced anyway (promotion.mode=force)" if force else
                                  "; promotion.mode=force replaces it anyway"))
    train_end = (champion.meta.get("split") or {}).get("train", [None, None])[1]
    horizon = int(result.scorer.meta.get("horizon_days", 30))
    verdict = None
    if not has_unseen_rows(result.test["as_of"], train_end, horizon):
        # the champion learned every row of this backtest: its stored model would be judged on rows it has
        # seen, so compare what both backtests predicted out of time on their common rows instead
        previous = tracking.backtest_predictions(tracking_config, old_version)
        if previous is not None:
            verdict = compare_backtests(result.test, previous, promotion.metric, capacity)
    if verdict is None:
        try:
            features = _champion_features(champion.spec, result.test, tables)
        except PipelineError as exc:
            return Decision(force, f"champion v{old_version}'s features cannot be built on this data ({exc})")
        scores = champion.score(features, with_reasons=False)["score"].to_numpy()
        verdict = compare(result.test, scores, promotion.metric, capacity, train_end, horizon)
    reason = f"v{version} vs champion v{old_version}: {verdict.reason}"
    if force and not verdict.promote:
        reason += "; promoted anyway (promotion.mode=force)"
    return replace(verdict, promote=verdict.promote or force, reason=reason)


def _champion_features(spec, test: pd.DataFrame, tables: Tables) -> pd.DataFrame:
    """The champion's features (``spec``) built on this data for the backtest rows, in their order: at the
    snapshots, and at the first looks (``looked_at``) for the accounts first seen there."""
    looked = test["looked_at"] if "looked_at" in test else test["as_of"]
    rows = pd.DataFrame({"account_id": test["account_id"].to_numpy(), "as_of": looked.to_numpy()})
    first = looked.to_numpy() != test["as_of"].to_numpy()
    parts = [build_features(tables, sorted(rows["as_of"][~first].unique()), spec)]
    if first.any():
        parts.append(build_features(tables, sorted(rows["as_of"][first].unique()), spec, max_age_us=FIRST_LOOK_AGE_US))
    features = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return rows.merge(features, on=["account_id", "as_of"], how="left", validate="one_to_one")
