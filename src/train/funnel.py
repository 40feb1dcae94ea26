"""The sign-up funnel per PQL definition: of the accounts that signed up in a week, how many became a PQL
within 7 and 30 days, how long it took, and how many of those PQLs became customers.

Definitions are evaluated where the pipeline evaluates them: on the snapshot grid (weekly by default).
An account "became a PQL within d days" when a snapshot at most ``d`` days after its sign-up flagged it
(it is eligible there: created before the snapshot, not converted yet). With weekly snapshots every
account is looked at once in its first 7 days (0-7 days after sign-up, on the usage it had by then)
and about four times in its first 30; days to PQL therefore have a one-week resolution. Daily as-of
points would need the features and the model's scores at every day of each cohort's first month: a
feature build per day, not affordable in a training run, so the funnel stays on the grid.

A PQL became a customer when the account converted within the label horizon of its first flag. A
cohort is reported only when it has matured: its last sign-up's 30 days and one horizon after that
are over before the data ends. A definition is reported for a cohort only when its flags cover every
snapshot of the cohort's first 30 days (model tier 1 and the learned list exist on the backtest
snapshots only, out of fold; hand rules on every snapshot when the feature frame is at hand).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (7, 30)
DAY = pd.Timedelta(days=1)


def signup_week(created: pd.Series) -> pd.Series:
    """The Monday 00:00 UTC starting each sign-up's week.

    >>> signup_week(pd.Series(pd.to_datetime(["2024-01-03 10:00", "2024-01-08 00:00"]))).dt.date.astype(str).tolist()
    ['2024-01-01', '2024-01-08']
    """
    day = pd.to_datetime(created).dt.floor("D")
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def _first_flags(flags: pd.DataFrame, name: str, signups: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each account's first snapshot within ``window`` days of sign-up at which ``name`` flags it."""
    hit = flags.loc[flags[name].fillna(False).to_numpy(bool), ["account_id", "as_of"]]
    hit = hit.merge(signups[["account_id", "created_at"]], on="account_id", how="inner")
    hit = hit[(hit["as_of"] > hit["created_at"]) & (hit["as_of"] <= hit["created_at"] + window * DAY)]
    return hit.groupby("account_id", as_index=False)["as_of"].min().rename(columns={"as_of": "pql_at"})


def _covered(weeks: pd.Series, times: np.ndarray, grid: np.ndarray, window: int) -> pd.Series:
    """Whether a source's snapshots include every grid snapshot of each cohort's first ``window`` days
    (and the grid reaches over the whole span)."""
    have = set(times.tolist())
    out = {}
    for week in weeks.unique():
        lo, hi = week, week + (7 + window) * DAY
        need = grid[(grid > lo) & (grid < hi)]
        reach = len(grid) and grid.min() <= lo + 7 * DAY and grid.max() >= hi - 7 * DAY
        out[week] = bool(reach) and len(need) > 0 and all(t in have for t in need.tolist())
    return weeks.map(out)


def cohort_funnel(signups: pd.DataFrame, sources: list[pd.DataFrame], data_end: pd.Timestamp, horizon_days: int,
                  windows: tuple[int, ...] = WINDOWS) -> pd.DataFrame:
    """One row per matured weekly sign-up cohort and definition.

    ``signups``: ``account_id``, ``created_at``, ``converted_at`` (NaT: never). ``sources``: frames of
    ``account_id``, ``as_of`` and one boolean column per definition, each covering its own snapshots.
    Columns: ``cohort`` (the week's Monday), ``definition``, ``accounts``, ``customers`` (share converted
    within the longest window plus one horizon of sign-up), ``pql_<d>d`` (share PQL within d days),
    ``median_days_to_pql`` and ``pql_to_customer`` (both among the PQLs of the longest window), ``pqls``."""
    longest = max(windows)
    signups = signups.assign(cohort=signup_week(signups["created_at"]))
    end = pd.Timestamp(data_end)
    matured = signups["cohort"] + (7 + longest + horizon_days) * DAY <= end
    signups = signups[matured].reset_index(drop=True)
    columns = ["cohort", "definition", "accounts", "customers", *[f"pql_{d}d" for d in windows], "pqls",
               "median_days_to_pql", "pql_to_customer"]
    if signups.empty:
        return pd.DataFrame(columns=columns)
    converted = signups["converted_at"]
    signups["customer"] = converted.notna() & (converted < signups["created_at"] + (longest + horizon_days) * DAY)
    base = signups.groupby("cohort").agg(accounts=("account_id", "size"), customers=("customer", "mean"))
    grid = np.array(sorted(set().union(*[set(s["as_of"].unique()) for s in sources])) if sources else [],
                    dtype="datetime64[us]")
    grid = pd.to_datetime(grid).to_numpy()
    rows = []
    for source in sources:
        times = pd.to_datetime(source["as_of"].unique()).to_numpy()
        covered = _covered(pd.Series(base.index), times, grid, longest)
        covered.index = base.index
        for name in [c for c in source.columns if c not in ("account_id", "as_of")]:
            first = _first_flags(source, name, signups, longest)
            joined = signups.merge(first, on="account_id", how="left")
            days = (joined["pql_at"] - joined["created_at"]) / DAY
            joined["days"] = days
            joined["won"] = (joined["converted_at"].notna() & joined["pql_at"].notna()
                             & (joined["converted_at"] >= joined["pql_at"])
                             & (joined["converted_at"] < joined["pql_at"] + horizon_days * DAY))
            for cohort, group in joined.groupby("cohort"):
                if not covered[cohort]:
                    continue
                pql = group["days"].notna()
                row = {"cohort": cohort, "definition": name, "accounts": int(len(group)),
                       "customers": float(base.loc[cohort, "customers"]), "pqls": int(pql.sum()),
                       "median_days_to_pql": float(group.loc[pql, "days"].median()) if pql.any() else float("nan"),
                       "pql_to_customer": float(group.loc[pql, "won"].mean()) if pql.any() else float("nan")}
                for d in windows:
                    row[f"pql_{d}d"] = float((group["days"] <= d).mean())
                rows.append(row)
    return pd.DataFrame(rows, columns=columns).sort_values(["cohort", "definition"], kind="stable",
                                                           ignore_index=True)


def signups_of(tables) -> pd.DataFrame:
    """``account_id``, ``created_at``, ``converted_at`` (NaT: never) from the validated tables."""
    from features.tables import NEVER

    converted = pd.Series(tables.converted_us)
    return pd.DataFrame({"account_id": tables.accounts["account_id"].to_numpy(),
                         "created_at": pd.to_datetime(tables.created_us, unit="us"),
                         "converted_at": pd.to_datetime(converted.where(converted != NEVER), unit="us")})


def sources_of(result) -> list[pd.DataFrame]:
    """The flag sources of a training result: the backtest frame (model tier 1, the learned list, and the
    hand rules unless the feature frame is at hand) and, with ``result.frame``, the hand rules (and any
    rule) on every snapshot."""
    from train.capacity import ANY, LEARNED, TIER1, definition_flags

    test = result.test
    flags = definition_flags(test)
    frame = getattr(result, "frame", None)
    rules = getattr(getattr(result, "scorer", None), "rules", None)
    sources = []
    if frame is not None and rules is not None and rules.names and len(frame):
        try:
            evaluated = rules.evaluate(frame)
        except Exception:  # noqa: BLE001 -- a frame the rules cannot read: the backtest's flags still serve
            evaluated = None
        if evaluated is not None:
            hand = evaluated.rename(columns=lambda c: c.removeprefix("rule_")).astype(bool)
            if hand.shape[1] > 1:
                hand[ANY] = hand.any(axis=1)
            sources.append(pd.concat([frame[["account_id", "as_of"]].reset_index(drop=True),
                                      hand.reset_index(drop=True)], axis=1))
            flags = flags[[c for c in flags.columns if c in (LEARNED, TIER1)]]
    # the instant each row was looked at (a first look counts in its snapshot's calls, but flags an account then)
    looked = test[["account_id", "looked_at"]].rename(columns={"looked_at": "as_of"}) if "looked_at" in test \
        else test[["account_id", "as_of"]]
    sources.insert(0, pd.concat([looked.reset_index(drop=True), flags.reset_index(drop=True)], axis=1))
    return sources


def funnel_of(result, tables, horizon_days: int, data_end: pd.Timestamp | None = None) -> pd.DataFrame:
    """The cohort funnel of a training result on its tables (``data_end``: default the tables' end)."""
    end = data_end if data_end is not None else pd.Timestamp(int(tables.data_end_us), unit="us")
    return cohort_funnel(signups_of(tables), sources_of(result), end, horizon_days)
