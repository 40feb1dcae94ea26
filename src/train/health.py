"""The data health report: what the data can and cannot support, before anyone trusts a backtest.

Pure functions of the tables, the feature table and the backtest's results. Every warning says
which setting changes it: the data's own (:func:`design_health`), then the backtest's
(:func:`backtest_warnings`), gathered in the report of ``summary.json`` (:func:`run_report`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from typing import Iterable

from features import naming as nm
from features.config import SnapshotConfig
from features.tables import NEVER, Tables
from features.windows import DAY_US, to_us

from train.folds import Snapshots, iso
from train.settings import TrainSettings


def first_conversion_us(tables: Tables) -> int | None:
    """The first recorded conversion (microseconds since the epoch); None when none is recorded."""
    recorded = tables.converted_us[tables.converted_us != NEVER]
    return int(recorded.min()) if len(recorded) else None


def left_censored(tables: Tables, snapshots: list[pd.Timestamp], horizon_days: int) -> list[pd.Timestamp]:
    """Snapshots before conversions start being recorded, when that start is late enough that whole label
    horizons hold no conversion although accounts exist (labels recorded only from some date)."""
    first = first_conversion_us(tables)
    if first is None:
        return list(snapshots)
    blind = [t for t in snapshots if to_us(t) + horizon_days * DAY_US <= first]
    return [t for t in snapshots if to_us(t) < first] if blind else []


def snapshot_table(frame: pd.DataFrame, label: np.ndarray, is_labelled: np.ndarray, every_days: int,
                   stale_days: int, snapshot: np.ndarray | None = None) -> pd.DataFrame:
    """Per as-of (``snapshot``: each row's grid snapshot, where first looks count; default the frame's as-of):
    eligible accounts, positives (labelled snapshots only), stale and fresh accounts."""
    last = frame[nm.DAYS_SINCE_LAST_EVENT].to_numpy(float)
    age = frame[nm.DAYS_SINCE_SIGNUP].to_numpy(float)
    stale = np.where(np.isnan(last), age >= stale_days, last >= stale_days)
    table = pd.DataFrame({"as_of": frame["as_of"].to_numpy() if snapshot is None else snapshot, "label": label, "labelled": is_labelled,
                          "stale": stale, "fresh": age < every_days})
    out = table.groupby("as_of").agg(eligible=("label", "size"), labelled=("labelled", "first"),
                                     positives=("label", "sum"), stale=("stale", "sum"), fresh=("fresh", "sum"))
    out["positives"] = out["positives"].where(out["labelled"])
    out["positive_rate"] = out["positives"] / out["eligible"]
    out["stale_share"] = out["stale"] / out["eligible"]
    return out.reset_index()


def _dates(times: list[pd.Timestamp]) -> str:
    days = [pd.Timestamp(t).strftime("%Y-%m-%d") for t in times]
    return ", ".join(days) if len(days) <= 4 else f"{days[0]} .. {days[-1]} ({len(days)} snapshots)"


def warnings(tables: Tables, per_snapshot: pd.DataFrame, censored: list[pd.Timestamp], horizon_days: int,
             stale_warn: float, end_us: int) -> list[str]:
    """Warnings about the data itself (labels, stale pools), each naming the setting that changes it."""
    out = []
    if censored:
        first = first_conversion_us(tables)
        since = "no conversion is recorded at all" if first is None else \
            f"conversions are recorded only from {pd.Timestamp(first, unit='us'):%Y-%m-%d}"
        out.append(f"{since}: {len(censored)} snapshots before it would teach that nobody converts and are left out "
                   f"of training ({_dates(censored)}); backtest.exclude_censored=false keeps them, snapshots.first=DATE "
                   f"moves the start")
    done = per_snapshot[per_snapshot["labelled"]]
    first = first_conversion_us(tables)
    if first is not None and len(done):
        last_conv = int(tables.converted_us[tables.converted_us != NEVER].max())
        quiet = [t for t in done["as_of"] if to_us(t) > last_conv]
        if len(quiet) >= 2 and end_us - last_conv > horizon_days * DAY_US:
            out.append(f"no conversion is recorded after {pd.Timestamp(last_conv, unit='us'):%Y-%m-%d} although the data "
                       f"runs on: {len(quiet)} labelled snapshots may be right-censored ({_dates(quiet)}); "
                       f"label.data_end=DATE ends the labels where conversions stop")
    if len(per_snapshot):
        newest = per_snapshot.iloc[-1]
        if newest["stale_share"] > stale_warn:
            out.append(f"{newest['stale_share']:.0%} of the {int(newest['eligible']):,} accounts eligible on "
                       f"{pd.Timestamp(newest['as_of']):%Y-%m-%d} show no activity for 90 days or more (a stale pool): "
                       f"they dilute the base rate and rules about activity; backtest.stale_days / backtest.stale_warn "
                       f"change this check")
    return out


def unseen_conversions(tables: Tables, times: list[pd.Timestamp], looks: Iterable[pd.Timestamp] = ()) -> dict:
    """Conversions no snapshot of the grid (nor first look, ``looks``) sees: the account converted before its
    first as-of (it was created and converted between two looks). Their share of the conversions in the grid's
    period, their number, and the median days from sign-up to conversion of those and of all conversions."""
    converted = tables.converted_us != NEVER
    grid = np.array(sorted(to_us(t) for t in times), dtype=np.int64)
    if not len(grid):
        return {"share": 0.0, "unseen": 0, "conversions": 0}
    created = tables.created_us
    in_period = converted & (created < grid[-1]) & (tables.converted_us >= grid[0])
    # a first look sees only the accounts of its day, and every such day has one: the union serves as a grid
    seen_at = np.union1d(grid, np.array([to_us(t) for t in looks], dtype=np.int64))
    first_look = seen_at[np.minimum(np.searchsorted(seen_at, created, side="right"), len(seen_at) - 1)]
    unseen = in_period & ((tables.converted_us < first_look) | (created >= first_look))
    days = (tables.converted_us - created) / DAY_US
    n = int(in_period.sum())
    return {"share": float(unseen.sum() / n) if n else 0.0, "unseen": int(unseen.sum()), "conversions": n,
            "median_days_unseen": float(np.median(days[unseen])) if unseen.any() else None,
            "median_days_to_convert": float(np.median(days[in_period])) if n else None}


def unseen_warning(unseen: dict, snapshots: SnapshotConfig, limit: float = 0.1) -> list[str]:
    """A warning when more than ``limit`` of the conversions happen before any snapshot sees the account, naming
    the setting that would see them."""
    if unseen.get("share", 0.0) <= limit:
        return []
    if snapshots.first_look or snapshots.every_days == 1:
        remedy = ("they buy before their first midnight, so no nightly look, in training or in serve, sees them "
                  "before they buy")
    else:
        remedy = (f"snapshots.first_look=true looks at every account on its first midnight (one row more an account; "
                  f"now off, grid every {snapshots.every_days} days)")
    return [f"{unseen['share']:.0%} of the {unseen['conversions']:,} conversions in the snapshots' period happen before "
            f"the account's first snapshot (median {unseen['median_days_unseen']:.1f} days after sign-up, against "
            f"{unseen['median_days_to_convert']:.1f} for all conversions): no snapshot sees them, so neither the model "
            f"nor the rules are judged or trained on them; {remedy}"]


def stopped_signups(tables: Tables, folds: list[dict], windows: tuple[int, ...]) -> list[str]:
    """A warning when the reported test folds hold no account younger than the longest feature window: the pool
    stopped growing, and the backtest judges the model on an aging pool alone. Names the last sign-up and the
    setting that moves the test period to where sign-ups were live (``snapshots.last``)."""
    shown = [f for f in folds if f.get("reported", True)]
    if not shown or any(f.get("young_accounts", 1) for f in shown):
        return []
    last = pd.Timestamp(int(tables.created_us.max()), unit="us").normalize()
    until = last + pd.Timedelta(days=(7 - last.weekday()) % 7)
    return [f"the backtest's test snapshots ({shown[0]['test'][0][:10]} .. {shown[-1]['test'][1][:10]}) hold no account "
            f"younger than {max(windows)} days: sign-ups stopped (the last on {last:%Y-%m-%d}), so the model and the "
            f"rules are judged on an aging pool only; snapshots.last={until:%Y-%m-%d} evaluates the period with live "
            f"sign-ups"]


def constant_columns(X: pd.DataFrame) -> list[str]:
    """Feature columns with a single value (or none) over the training rows: they cannot help."""
    return [c for c in X.columns if X[c].nunique(dropna=False) <= 1]


def report(per_snapshot: pd.DataFrame, warned: list[str], extra: dict) -> dict:
    """The machine-readable health section of summary.json."""
    rows = []
    for row in per_snapshot.to_dict("records"):
        rows.append({"as_of": iso(row["as_of"]), "eligible": int(row["eligible"]), "labelled": bool(row["labelled"]),
                     "positives": None if pd.isna(row["positives"]) else int(row["positives"]),
                     "stale_share": float(row["stale_share"]), "fresh": int(row["fresh"])})
    return {"warnings": warned, "snapshots": rows, **extra}


def design_health(tables: Tables, frame: pd.DataFrame, y: np.ndarray, snapshot: np.ndarray, snapshots: Snapshots,
                  settings: TrainSettings, dropped: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The per-as-of table of the design (``snapshot``: each row's as-of) and the data's warnings, with
    the brought rules left out (``dropped``)."""
    cfg = settings.backtest
    is_labelled = np.isin(snapshot, np.array(snapshots.labelled, dtype="datetime64[us]"))
    per_snapshot = snapshot_table(frame, y, is_labelled, settings.snapshots.every_days, cfg.stale_days, snapshot)
    warned = warnings(tables, per_snapshot, snapshots.censored, settings.label.horizon_days, cfg.stale_warn,
                      snapshots.end_us)
    if dropped:
        warned.append(f"the demo's rules {dropped} read features this demo variant lacks and are left out "
                      f"(rules=none or rules.file=PATH chooses the rules yourself)")
    return per_snapshot, warned


def tier_warnings(table: pd.DataFrame, capacity: int, fit_known: bool, bands: list[dict] = ()) -> list[str]:
    """Warnings about the PQL tiers on the backtest: no fit, tier 1 not converting better, too few in it
    (``bands``: how the good-fit cut was sized by lift, :func:`train.tiers.good_fit_by_lift`)."""
    out = []
    rate = dict(zip(table["pql_tier"], table["conversion_rate"]))
    if not fit_known and bands:
        out.append(f"fit carries no signal on the backtest: even the top 5% of accounts by fit convert at "
                   f"{bands[0]['band_lift']:.1f}x the base rate (good fit needs tiers.fit_lift) -- fit is unknown and "
                   f"the PQL tiers use intent only (tiers 2 and 3 stay empty); tiers.good_fit=0.6 forces a cut")
    elif not fit_known:
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


def backtest_warnings(comparison: pd.DataFrame, constant: list[str], folds: list[dict], every_days: int) -> list[str]:
    """Warnings about the backtest: rules that flag nobody, constant columns, folds without fresh accounts."""
    out = []
    for row in comparison.itertuples():
        if row.flagged == 0:
            out.append(f"rule '{row.name}' flags nobody in the backtest: its figures are 0; check its expression "
                       f"against the feature names (python -m features) or the period (fresh accounts per fold below)")
    if constant:
        out.append(f"{len(constant)} feature columns are constant over the training snapshots and cannot help "
                   f"(e.g. {constant[:5]}); features.exclude_columns / features.event_types leave them out")
    empty = [f for f in folds if f.get("reported", True) and f["fresh_accounts"] == 0]
    if empty and any(f.get("young_accounts", 1) for f in folds if f.get("reported", True)):
        names = ", ".join(f"{f['fold']} ({f['test'][0][:10]} .. {f['test'][1][:10]})" for f in empty)
        out.append(f"fold{'s' if len(empty) > 1 else ''} {names} hold{'' if len(empty) > 1 else 's'} no account "
                   f"younger than {every_days} days: rules about fresh accounts cannot flag anyone there")
    return out


def run_report(per_snapshot: pd.DataFrame, warned: list[str], snapshots: Snapshots, constant: list[str],
               comparison: pd.DataFrame, folds: list[dict], tables: Tables | None = None,
               verdict: list[str] = ()) -> dict:
    """The health section of a training run (:func:`report` with what the backtest found); ``verdict``: the
    warnings that qualify the run's headline (shown beside it)."""
    unseen = unseen_conversions(tables, snapshots.times, snapshots.looks) if tables is not None else {}
    return report(per_snapshot, warned, {"verdict_warnings": list(verdict), "unseen_conversions": unseen,
        "censored_snapshots": [str(pd.Timestamp(t).date()) for t in snapshots.censored], "constant_columns": constant,
        "rules_flagging_nobody": [r for r, n in zip(comparison.get("name", []), comparison.get("flagged", [])) if n == 0],
        "fresh_accounts_per_fold": {f["fold"]: f["fresh_accounts"] for f in folds},
        "share_of_history_for_training": len(snapshots.plan.final_train) / max(len(snapshots.times), 1)})
