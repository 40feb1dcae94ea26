"""How the scores the batch job wrote turned out, against what the backtest promised (``python -m serve.realized``).

The batch job keeps one scoring day per file (``output_dir`` + ``output_pattern``, or ``{date}`` in
``output``), per ``as_of`` in a database table (``.duckdb`` or a SQLAlchemy URL) or, with ``engine=spark``,
per ``as_of_date`` partition of a Parquet dataset. This command reads those scores back (``scores_dir`` +
``scores_pattern``; ``scores`` = a path with ``{date}``, a dataset folder, a ``.duckdb`` file or a URL with
``scores_table``), keeps the days scored at least one label horizon before the data
ends (their outcome is known), labels each row with whether the account converted within the horizon
after its as-of, and reports per PQL tier, per rule flag (and the learned list when the scores carry it)
and for the model's top ``capacity_per_week`` accounts of each day (each model version's own capacity): accounts,
conversions and the realized rate with a 95% interval, beside the rate the model version's backtest promised (its
``backtest/predictions.parquet`` in MLflow). The run is logged to the serve experiment
(``realized-<date>``) and the table written to ``realized.csv`` in the run folder.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ConfigError
from features.io import write_file
from serve.realized.scores import NoScoresError, check_accounts, read_scores

log = logging.getLogger("pql")
DAY = pd.Timedelta(days=1)
TIERS = ("1", "2", "3", "none")
UNVERSIONED = "?"  # scores that carry no model_version


# -- judging them --------------------------------------------------------------------------------


def realized_labels(scores: pd.DataFrame, conversions: pd.DataFrame, horizon_days: int | pd.Series,
                    data_end: pd.Timestamp) -> pd.DataFrame:
    """The scores whose horizon has passed by ``data_end``, with ``label`` = converted in ``[as_of, as_of +
    horizon)``. ``conversions``: ``account_id``, ``converted_at`` (first conversion).

    >>> s = pd.DataFrame({"account_id": ["a", "b", "a"], "as_of": pd.to_datetime(["2024-01-01"] * 2 + ["2024-03-01"])})
    >>> c = pd.DataFrame({"account_id": ["a"], "converted_at": pd.to_datetime(["2024-01-20"])})
    >>> realized_labels(s, c, 30, pd.Timestamp("2024-02-15"))["label"].tolist()
    [1, 0]
    """
    horizon = pd.to_timedelta(horizon_days, unit="D") if not np.isscalar(horizon_days) else horizon_days * DAY
    due = scores["as_of"] + horizon
    kept = scores[(due <= data_end).to_numpy()].copy()
    due = due[(due <= data_end).to_numpy()]
    first = conversions.groupby("account_id")["converted_at"].min()
    converted = kept["account_id"].map(first)
    kept["label"] = ((converted >= kept["as_of"]) & (converted < due)).fillna(False).astype(int).to_numpy()
    return kept.reset_index(drop=True)


def _rate_row(group: str, name: str, flags: np.ndarray, y: np.ndarray) -> dict:
    from train.evaluate import rate_interval

    n, hits = int(flags.sum()), int(y[flags].sum())
    low, high = rate_interval(hits, n)
    return {"group": group, "name": name, "accounts": n, "converted": hits, "rate": hits / n if n else float("nan"),
            "rate_low": low, "rate_high": high}


def _definitions(frame: pd.DataFrame, capacity: int, rank_column: str) -> dict[tuple[str, str], np.ndarray]:
    """The flags judged: each PQL tier, each rule flag, the learned list, the model's top ``capacity`` of
    each day (by ``rank_column``), and every row."""
    tier = frame["pql_tier"].astype("string").str.removesuffix(".0").fillna("none")
    out = {("tier", t): (tier == t).to_numpy(bool) for t in TIERS if (tier == t).any()}
    for column in [c for c in frame.columns if c.startswith("rule_") or c == "learned"]:
        out[("definition", column.removeprefix("rule_"))] = frame[column].fillna(False).to_numpy(bool)
    from train.evaluate import top_k_flags

    out[("model", f"top {capacity} per scoring day")] = top_k_flags(frame[rank_column].to_numpy(float),
                                                           frame["as_of"].to_numpy(), capacity)
    out[("all", "every account scored")] = np.ones(len(frame), bool)
    return out


def judge(realized: pd.DataFrame, promised: pd.DataFrame | None, capacity: int) -> pd.DataFrame:
    """Per tier, definition, the model at capacity and overall: the realized rate (95% interval) of the
    matured scores beside the promised rate (interval) of the backtest rows (``label``, ``log_odds``, tiers and
    flags); ``within`` says whether the realized rate lies in the promised interval."""
    y = realized["label"].to_numpy(int)
    rows = [_rate_row(g, n, f, y) for (g, n), f in _definitions(realized, capacity, "score").items()]
    table = pd.DataFrame(rows)
    table["mean_score"] = [float(realized.loc[f, "score"].mean()) if f.any() else float("nan")
                           for f in _definitions(realized, capacity, "score").values()]
    if promised is not None and len(promised):
        rank = "log_odds" if "log_odds" in promised else "score"
        py = promised["label"].to_numpy(int)
        back = pd.DataFrame([_rate_row(g, n, f, py) for (g, n), f in _definitions(promised, capacity, rank).items()])
        back = back.rename(columns={"accounts": "promised_accounts", "rate": "promised_rate",
                                    "rate_low": "promised_low", "rate_high": "promised_high"})
        table = table.merge(back[["group", "name", "promised_accounts", "promised_rate", "promised_low",
                                  "promised_high"]], on=["group", "name"], how="left")
        table["within"] = (table["rate"] >= table["promised_low"]) & (table["rate"] <= table["promised_high"])
    return table


def metrics_of(table: pd.DataFrame) -> dict[str, float]:
    """MLflow metrics: realized and promised rate per row (``realized_tier_1_rate`` ...)."""
    out = {}
    for row in table.to_dict("records"):
        key = re.sub(r"[^0-9a-zA-Z_]+", "_", f"{row['group']}_{row['name']}").strip("_").lower()
        out[f"realized_{key}_rate"] = row["rate"]
        out[f"realized_{key}_accounts"] = row["accounts"]
        if "promised_rate" in row:
            out[f"promised_{key}_rate"] = row["promised_rate"]
    return out


def readable(table: pd.DataFrame) -> str:
    """The comparison as a fixed-width text table."""
    def pct(v):
        return "n/a" if v is None or not np.isfinite(v) else f"{v:.1%}"

    show = pd.DataFrame({"": table["group"] + " " + table["name"], "accounts": table["accounts"],
                         "converted": table["converted"],
                         "realized": [f"{pct(r)} ({pct(lo)}-{pct(hi)})" for r, lo, hi in
                                      zip(table["rate"], table["rate_low"], table["rate_high"])]})
    if "promised_rate" in table:
        show["promised (backtest)"] = [f"{pct(r)} ({pct(lo)}-{pct(hi)})" for r, lo, hi in
                                       zip(table["promised_rate"], table["promised_low"], table["promised_high"])]
    return show.to_string(index=False)


# -- the command ----------------------------------------------------------------------------------


def run_realized(config: dict[str, Any], out_dir: Path | None = None) -> tuple[pd.DataFrame, str | None]:
    """Read the past scores and the conversions, judge the matured ones per model version against that
    version's backtest, log the run to MLflow; returns the table and the MLflow run id."""
    from features.config import DataConfig
    from features.data.load import load_tables
    from features.tables import NEVER
    from train import tracking
    from train.config import TrackingConfig

    scores = read_scores(config)  # a wrong location fails before the data is loaded
    track = TrackingConfig(**config["tracking"])
    tables, report = load_tables(DataConfig.from_mapping(config["data"]))
    for line in report.lines():
        log.info(line)
    end = pd.Timestamp(int(tables.data_end_us), unit="us")
    converted = pd.Series(tables.converted_us)
    conversions = pd.DataFrame({"account_id": tables.accounts["account_id"].astype(str).to_numpy(),
                                "converted_at": pd.to_datetime(converted.where(converted != NEVER), unit="us")})
    check_accounts(scores, conversions["account_id"])  # the wrong data source would count every score as lost
    versions = (scores["model_version"].astype(str) if "model_version" in scores
                else pd.Series(UNVERSIONED, index=scores.index))
    parts = []
    for version in sorted(versions.unique()):
        rows = scores[(versions == version).to_numpy()]
        horizon = config.get("horizon_days")
        if horizon is None:
            horizon = _horizon_of(tracking, track, version)
        realized = realized_labels(rows, conversions, int(horizon), end)
        if realized.empty:
            log.info("model version %s: no scoring day is %s days before the data end (%s) yet", version, horizon,
                     end.date())
            continue
        promised = tracking.backtest_predictions(track, version) if version != UNVERSIONED else None
        capacity = config.get("capacity_per_week") or _capacity_of(tracking, track, version)
        table = judge(realized, promised, int(capacity))
        table.insert(0, "model_version", version)
        table.insert(1, "days", realized["as_of"].nunique())
        table.insert(2, "horizon_days", int(horizon))
        parts.append(table)
        log.info("model version %s: %d scoring days (%s .. %s) whose %s-day outcome is known\n%s", version,
                 realized["as_of"].nunique(), realized["as_of"].min().date(), realized["as_of"].max().date(),
                 horizon, readable(table))
    if not parts:
        raise NoScoresError(f"no scores written at least one label horizon before the data end ({end.date()}): "
                            f"nothing has had time to convert yet")
    table = pd.concat(parts, ignore_index=True)
    metrics = {("" if v == UNVERSIONED else f"v{v}_") + k: x  # MLflow refuses '?' in a metric's name
               for v, part in table.groupby("model_version") for k, x in metrics_of(part).items()}
    params = {"scores": str(config.get("scores_dir") or config.get("scores")), "data_end": str(end),
              "capacity_per_week": str(config.get("capacity_per_week") or "each model's own")}
    written = write_file(table, Path(out_dir) / "realized.csv") if out_dir is not None else None
    try:
        run_id = tracking.log_realized(track, params, metrics, {"realized.csv": table})
    except BaseException:  # no realized.csv beside a run that was never logged
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return table, run_id


def _meta_of(tracking, track, version: str, key: str) -> Any:
    """A value a model version carries in its metadata (``horizon_days``, ``capacity_per_week``)."""
    if version == UNVERSIONED:
        raise ConfigError(f"scores carry no model_version: give {key}=N")
    model = tracking.load_model(f"models:/{track.registered_model}/{version}", track)
    return model.unwrap_python_model().scorer.meta.get(key)


def _horizon_of(tracking, track, version: str) -> int:
    """The label horizon a model version was trained for (its own metadata)."""
    return int(_meta_of(tracking, track, version, "horizon_days") or 30)


def _capacity_of(tracking, track, version: str) -> int:
    """The weekly sales capacity a model version was sized for (its metadata; 50 for models older than that)."""
    return int(_meta_of(tracking, track, version, "capacity_per_week") or 50)
