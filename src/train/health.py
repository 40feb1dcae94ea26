"""The data health report: what the data can and cannot support, before anyone trusts a backtest.

Pure functions of the tables, the feature table and the backtest's results. Every warning says
which setting changes it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import naming as nm
from features.tables import NEVER, Tables
from features.windows import DAY_US, to_us

from train.folds import iso


def first_conversion_us(tables: Tables) -> int | None:
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
                   stale_days: int) -> pd.DataFrame:
    """Per as-of: eligible accounts, positives (labelled snapshots only), stale and fresh accounts."""
    last = frame[nm.DAYS_SINCE_LAST_EVENT].to_numpy(float)
    age = frame[nm.DAYS_SINCE_SIGNUP].to_numpy(float)
    stale = np.where(np.isnan(last), age >= stale_days, last >= stale_days)
    table = pd.DataFrame({"as_of": frame["as_of"].to_numpy(), "label": label, "labelled": is_labelled,
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
