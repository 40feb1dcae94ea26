"""What the revenue leader's report says, as data: the headline, the capacity figures, the tiers in
words, the funnel summary, the definitions, calibration in plain words. No HTML here (:mod:`report.html`).

>>> bands = calibration_bands(np.array([0.1, 0.1, 0.3, 0.3]), np.array([0, 0, 1, 0]), bands=2)
>>> calibration_words(bands)[-1]
'Of the 2 accounts scored 30% (30% to 30%), 50% converted.'
>>> [share(p) for p in (0, 0.0012, 0.000123, 0.025, 0.25, 1)]
['0%', '0.12%', '0.012%', '2.5%', '25%', '100%']
>>> [percent(p) for p in (0.3, 0.025, 0.0012, 0, None)]
['30.0%', '2.5%', '0.12%', '0%', 'n/a']
>>> band_label(0.0011, 0.00134), fold(list(range(10)), 8)
('0.11% to 0.13%', ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9]))
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.words import number, plural
from train.capacity import at_capacity, definition_points, model_curve
from train.funnel import funnel_of

OUT_OF_TIME, IN_SAMPLE = "out of time", "in-sample"
TIER_WORDS = {"1": "Tier 1 - call now (high intent, good fit)", "2": "Tier 2 - help them adopt (good fit, low intent)",
              "3": "Tier 3 - self-serve or marketing (high intent, poor fit)", "none": "No tier"}


def per_week(every_days: int) -> float:
    """Snapshots a week at one snapshot every ``every_days`` days."""
    return 7.0 / max(int(every_days), 1)


def capacity_tables(result, every_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's volume curve and one point per definition (CSV-ready)."""
    return model_curve(result.test, every_days), definition_points(result.test, every_days)


def report_tables(result, tables, settings) -> dict[str, pd.DataFrame]:
    """The report's tables as CSVs for MLflow: the funnel, the capacity curve, the definitions at volume."""
    curve, points = capacity_tables(result, settings.snapshots.every_days)
    return {"funnel.csv": funnel(result, tables, settings), "capacity_curve.csv": curve,
            "capacity_definitions.csv": points}


def funnel(result, tables, settings) -> pd.DataFrame:
    """The weekly sign-up cohort funnel of a run (matured cohorts only; see :mod:`train.funnel`)."""
    from features.snapshots import data_end_us

    end = pd.Timestamp(int(data_end_us(tables, settings.label)), unit="us")
    return funnel_of(result, tables, settings.label.horizon_days, end)


def headline(result, weeks: int) -> str:
    """One sentence: what the model finds at the sales capacity beyond the best hand rule and the learned list,
    in the words of their intervals -- the training run's own headline (``train.summary.headline``), so the
    report, the console and ``summary.json`` say the same thing."""
    from train.summary import headline as run_headline

    return f"{run_headline(result)} (measured over {plural(weeks, 'backtest week')}; 95% intervals over the accounts)."


def tier_rows(tier_rates: pd.DataFrame, every_days: int) -> list[dict]:
    """The tier table in words: accounts a week, conversions, rate with its 95% interval."""
    rows = []
    for row in tier_rates.to_dict("records"):
        key = str(row["pql_tier"]).removesuffix(".0")
        rows.append({"tier": TIER_WORDS.get(key, f"Tier {key}"),
                     "per_week": number(row["per_snapshot"] * per_week(every_days)),
                     "accounts": f"{int(row['accounts']):,}", "converted": f"{int(row['converted']):,}",
                     "rate": percent(row["conversion_rate"]),
                     "interval": f"{percent(row['rate_low'])} to {percent(row['rate_high'])}"
                     if np.isfinite(row["rate_low"]) else "n/a"})
    return rows


def common_cohorts(table: pd.DataFrame) -> pd.DataFrame:
    """The funnel rows of the cohorts every definition covers (so pooled figures compare like with like);
    all rows when no cohort is covered by all."""
    if table.empty:
        return table
    names = table["definition"].nunique()
    full = table.groupby("cohort")["definition"].nunique()
    keep = full[full == names].index
    return table[table["cohort"].isin(keep)] if len(keep) else table


def funnel_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The funnel pooled over cohorts per definition (weighted by accounts; PQL-to-customer by PQLs; the
    median days to PQL is the median of the cohorts' medians)."""
    if table.empty:
        return pd.DataFrame(columns=["definition", "cohorts", "accounts", "pql_7d", "pql_30d", "pqls",
                                     "median_days_to_pql", "pql_to_customer"])
    rows = []
    for name, group in table.groupby("definition", sort=False):
        w = group["accounts"].to_numpy(float)
        pqls = group["pqls"].to_numpy(float)
        won = np.nansum(group["pql_to_customer"].fillna(0).to_numpy() * pqls)
        rows.append({"definition": name, "cohorts": len(group), "accounts": int(w.sum()),
                     "pql_7d": float(np.average(group["pql_7d"], weights=w)),
                     "pql_30d": float(np.average(group["pql_30d"], weights=w)), "pqls": int(pqls.sum()),
                     "median_days_to_pql": float(np.nanmedian(group["median_days_to_pql"]))
                     if group["median_days_to_pql"].notna().any() else float("nan"),
                     "pql_to_customer": float(won / pqls.sum()) if pqls.sum() else float("nan")})
    return pd.DataFrame(rows)


def calibration_bands(score: np.ndarray, y: np.ndarray, bands: int = 8) -> pd.DataFrame:
    """Accounts grouped into (up to) ``bands`` equal-sized score bands: range, accounts, average score,
    share converted."""
    frame = pd.DataFrame({"score": np.asarray(score, float), "y": np.asarray(y, float)})
    frame["band"] = pd.qcut(frame["score"].rank(method="first"), min(bands, max(len(frame), 1)), labels=False)
    out = frame.groupby("band").agg(low=("score", "min"), high=("score", "max"), accounts=("y", "size"),
                                    mean_score=("score", "mean"), converted=("y", "mean"))
    return out.reset_index(drop=True)


def calibration_words(bands: pd.DataFrame) -> list[str]:
    """One sentence per band: "Of the 1,204 accounts scored 20% (15% to 25%), 19% converted."."""
    return [f"Of the {plural(int(b.accounts), 'account')} scored {share(b.mean_score)} ({band_label(b.low, b.high)}),"
            f" {share(b.converted)} converted." for b in bands.itertuples()]


def share(value: float) -> str:
    """A share as a percent people can tell apart at any size: whole from 10% (25%), one decimal from 1% (2.5%),
    two significant digits below (0.12%, 0.012%) -- never "0.0%" for a small non-zero share."""
    v = float(value)
    if not np.isfinite(v):
        return "n/a"
    if v == 0 or v >= 0.1:
        return f"{v:.0%}"
    return f"{v:.1%}" if v >= 0.01 else f"{number(v * 100)}%"


def percent(value: float) -> str:
    """A table's percent: one decimal from 1% (30.0%, 2.5%), two significant digits below (0.12%), n/a when
    unknown."""
    v = float(value) if value is not None else float("nan")
    return f"{v:.1%}" if np.isfinite(v) and v >= 0.01 else share(v)


def band_label(low: float, high: float) -> str:
    """A score band's range in words: ``0.11% to 0.13%`` (:func:`share` at both ends)."""
    return f"{share(low)} to {share(high)}"


def fold(rows: list, keep: int = 8) -> tuple[list, list]:
    """A long table's first ``keep`` rows (shown) and the rest (folded under a summary line)."""
    return list(rows[:keep]), list(rows[keep:])


def definitions(result) -> pd.DataFrame:
    """The PQL definitions in words: the hand rules (description, expression, backtest precision), and the
    learned list when the run learned one (``result.definitions``: words and stability)."""
    rows = []
    comparison = result.comparison.set_index("name") if len(result.comparison) else pd.DataFrame()
    rules = getattr(getattr(result, "scorer", None), "rules", None)
    for rule in getattr(rules, "rules", ()):
        stats = comparison.loc[rule.name] if rule.name in comparison.index else None
        rows.append({"source": "hand-written", "name": rule.name, "words": rule.description or rule.expression,
                     "expression": rule.expression, "stability": "", "measured": OUT_OF_TIME,
                     "flagged": "" if stats is None else f"{int(stats['flagged']):,}",
                     "precision": "" if stats is None else percent(stats["precision"])})
    learned = getattr(result, "definitions", None)
    if isinstance(learned, pd.DataFrame) and len(learned):
        for row in learned.to_dict("records"):
            stability = row.get("stability", "")
            rows.append({"source": "learned", "name": str(row.get("name", "")),
                         "words": str(row.get("words") or row.get("expression", "")),
                         "expression": str(row.get("expression", "")),
                         "stability": f"{stability:.0%}" if isinstance(stability, (int, float)) and
                         np.isfinite(stability) else str(stability or ""), "measured": IN_SAMPLE,
                         "flagged": f"{int(row['flagged']):,}" if pd.notna(row.get("flagged")) else "",
                         # the production list learned from the backtest rows: its figures there are in-sample
                         "precision": f"{percent(row['precision'])} (in-sample)" if pd.notna(row.get("precision")) else ""})
    return pd.DataFrame(rows, columns=["source", "name", "words", "expression", "stability", "measured", "flagged",
                                       "precision"])


def weeks_of(test: pd.DataFrame, every_days: int) -> int:
    """Backtest length in weeks."""
    return int(round(test["as_of"].nunique() / per_week(every_days)))


def capacity_of(result, settings) -> dict:
    """The model against the best definition at the sales capacity (:func:`train.capacity.at_capacity`)."""
    return at_capacity(result.test, settings.capacity_per_week, settings.snapshots.every_days)
