"""Alerts: the accounts whose state changed since the previous scoring run, and what changed (pure).

An account of today's scores is an alert when it is newly in tier 1, newly flagged by a hand-defined rule
(``rule_<name>``) or the learned definition (``learned``), or its score moved by more than
``score_points`` percentage points. "Newly" is against the previous run's row of that account: an account
the previous run did not score (new, or not eligible then) has nothing to compare with, so its tier 1 and
its flags are new; with no previous run at all (``previous`` is None: the first run) everything in tier 1
or flagged is new and ``first_run`` says so.

>>> today = pd.DataFrame({"account_id": ["a", "b"], "as_of": pd.Timestamp("2024-05-07"), "score": [.62, .2],
...                       "pql_tier": [1, 2], "rule_power": [True, False], "reasons": ["x; y", "z"]})
>>> before = today.assign(as_of=pd.Timestamp("2024-05-06"), score=[.5, .2], pql_tier=[2, 2],
...                       rule_power=[False, False], reasons=["x", "z"])
>>> alerts(today, before, AlertsConfig(score_points=10))[["account_id", "change", "new_reasons"]].values.tolist()
[['a', 'new in tier 1; rule power newly true; score +12 pts', 'y']]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import ConfigError

RULE_PREFIX = "rule_"
LEARNED = "learned"
MAX_WARM = 31  # days a first run may replay before as_of (each is a full scoring run)
SEPARATOR = "; "  # between reasons (train.explain) and between changes
COLUMNS = ("account_id", "as_of", "compared_with", "first_run", "change", "new_reasons", "reasons", "score",
           "previous_score", "score_change_points", "pql_tier", "previous_pql_tier", "model_version")
_DTYPES = {"account_id": "str", "as_of": "datetime64[us]", "compared_with": "datetime64[us]", "first_run": "bool",
           "change": "str", "new_reasons": "str", "reasons": "str", "score": "float64", "previous_score": "float64",
           "score_change_points": "float64", "pql_tier": "Int64", "previous_pql_tier": "Int64",
           "model_version": "str"}


@dataclass(frozen=True)
class AlertsConfig:
    """When a change of an account is an alert, and what the runs keep to compare with (the ``alerts`` config
    group of ``python -m serve``)."""

    score_points: float = 10.0  # a score move of more than this many percentage points (0.50 -> 0.61) alerts
    keep_days: int = 7  # a single output file (scores.parquet) keeps this many newest days beside it
    warm_days: int | None = None  # with no earlier run kept, first replay this many days before as_of (None: what
    # the data source brings -- the demo world its own, conf/data/demo.yaml; 0 on your data)

    def __post_init__(self) -> None:
        if not self.score_points >= 0:
            raise ConfigError(f"alerts.score_points: {self.score_points} must be a number of points >= 0")
        # >= 2: the day itself and one before it, so that a rerun of the newest day still finds what it compared with
        if not (_whole(self.keep_days) and self.keep_days >= 2):
            raise ConfigError(f"alerts.keep_days: {self.keep_days} must be a whole number of days >= 2 (the day "
                              f"and one before it: a rerun compares with that one)")
        if self.warm_days is not None and not (_whole(self.warm_days) and 0 <= self.warm_days <= MAX_WARM):
            raise ConfigError(f"alerts.warm_days: {self.warm_days} must be a whole number of days from 0 to "
                              f"{MAX_WARM} (or null)")


def _whole(value: object) -> bool:
    """A whole number (``True`` is an int to Python, not a number of days)."""
    return isinstance(value, int) and not isinstance(value, bool)


def flag_columns(scores: pd.DataFrame) -> list[str]:
    """The definition flags of a scores table: each ``rule_<name>`` and ``learned``, in the table's order."""
    return [c for c in scores.columns if str(c).startswith(RULE_PREFIX) or c == LEARNED]


def _flag_name(column: str) -> str:
    return f"rule {column[len(RULE_PREFIX):]}" if column.startswith(RULE_PREFIX) else "learned definition"


def _true(column: pd.Series) -> np.ndarray:
    """A flag column as plain booleans (missing = not flagged)."""
    return column.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _reasons(text) -> list[str]:
    return [r for r in str(text).split(SEPARATOR) if r] if isinstance(text, str) else []


def _new_reasons(today: pd.Series, before: pd.Series) -> list[str]:
    """Per account, today's reasons that the previous run did not give, in today's order."""
    return [SEPARATOR.join(r for r in _reasons(now) if r not in set(_reasons(then)))
            for now, then in zip(today, before)]


def _previous_rows(today: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """The previous run's row of each of today's accounts, aligned with ``today`` (empty where it had none)."""
    if previous is None or previous.empty:
        return pd.DataFrame(index=today.index)
    prior = previous.assign(account_id=previous["account_id"].astype(str)).drop_duplicates("account_id", keep="last")
    keyed = prior.set_index("account_id")
    return keyed.reindex(today["account_id"].astype(str).to_numpy()).set_axis(today.index)


def _changes(today: pd.DataFrame, prior: pd.DataFrame, points: float) -> tuple[list[list[str]], np.ndarray]:
    """Per account, what changed (phrases in a fixed order), and the score move in percentage points."""
    phrases: list[list[str]] = [[] for _ in range(len(today))]
    tier_now = today["pql_tier"].astype("Int64").eq(1).fillna(False).to_numpy(dtype=bool)
    tier_then = (prior["pql_tier"].astype("Int64").eq(1).fillna(False).to_numpy(dtype=bool)
                 if "pql_tier" in prior else np.zeros(len(today), bool))
    for i in np.flatnonzero(tier_now & ~tier_then):
        phrases[i].append("new in tier 1")
    for column in flag_columns(today):
        then = _true(prior[column]) if column in prior else np.zeros(len(today), bool)
        for i in np.flatnonzero(_true(today[column]) & ~then):
            phrases[i].append(f"{_flag_name(column)} newly true")
    before = pd.to_numeric(prior["score"], errors="coerce") if "score" in prior else pd.Series(np.nan, today.index)
    moved = ((pd.to_numeric(today["score"]) - before) * 100).round(9).to_numpy(dtype=float)
    for i in np.flatnonzero(np.abs(np.nan_to_num(moved)) > points):
        phrases[i].append(f"score {moved[i]:+.0f} pts")
    return phrases, moved


def alerts(today: pd.DataFrame, previous: pd.DataFrame | None, config: AlertsConfig = AlertsConfig(),
           compared_with: pd.Timestamp | None = None) -> pd.DataFrame:
    """The alerts of today's scores against the previous run's (None: the first run ever): one row per account
    whose state changed, highest score first, with the columns of :data:`COLUMNS` -- ``change`` says what
    changed ("new in tier 1; rule power_users newly true; score +12 pts"), ``new_reasons`` the reasons the
    previous run did not give, ``compared_with`` the previous run's as-of (default: its newest ``as_of``)."""
    prior = _previous_rows(today, previous)
    phrases, moved = _changes(today, prior, float(config.score_points))
    if compared_with is None and previous is not None and not previous.empty:
        compared_with = pd.to_datetime(previous["as_of"]).max()
    hot = np.array([bool(p) for p in phrases], dtype=bool)  # the rest of the work only for accounts that changed:
    today, prior, moved = today[hot], prior[hot], moved[hot]  # a night of a million accounts has a few thousand
    before_reasons = prior["reasons"] if "reasons" in prior else pd.Series(None, index=today.index, dtype=object)
    changed = pd.DataFrame({
        "account_id": today["account_id"].astype(str), "as_of": today["as_of"],
        "compared_with": pd.NaT if compared_with is None else pd.Timestamp(compared_with),
        "first_run": previous is None, "change": [SEPARATOR.join(p) for p, h in zip(phrases, hot) if h],
        "new_reasons": _new_reasons(today["reasons"] if "reasons" in today else [None] * len(today), before_reasons),
        "reasons": today["reasons"] if "reasons" in today else "", "score": today["score"],
        "previous_score": prior["score"] if "score" in prior else np.nan, "score_change_points": moved,
        "pql_tier": today["pql_tier"], "previous_pql_tier": prior["pql_tier"] if "pql_tier" in prior else pd.NA,
        "model_version": today["model_version"] if "model_version" in today else "",
    }, index=today.index)
    changed = changed.sort_values(["score", "account_id"], ascending=[False, True], kind="stable")
    return typed(changed.reset_index(drop=True))


def alert_counts(changed: pd.DataFrame) -> dict[str, float]:
    """The night's alerts counted for MLflow, so runs can be charted: all of them, and those newly in tier 1,
    newly flagged by a definition, or whose score moved (an account can be in several).

    >>> alert_counts(pd.DataFrame({"change": ["new in tier 1; rule power newly true", "score -12 pts"]}))
    {'alerts': 2.0, 'alerts_new_tier1': 1.0, 'alerts_newly_flagged': 1.0, 'alerts_score_moved': 1.0}
    """
    phrases = [str(c).split(SEPARATOR) for c in changed["change"]] if "change" in changed else []
    return {"alerts": float(len(changed)),
            "alerts_new_tier1": float(sum("new in tier 1" in p for p in phrases)),
            "alerts_newly_flagged": float(sum(any(x.endswith(" newly true") for x in p) for p in phrases)),
            "alerts_score_moved": float(sum(any(x.startswith("score ") for x in p) for p in phrases))}


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The alerts columns with their fixed dtypes (so an empty night types an output like any other night)."""
    out = {}
    for name in COLUMNS:
        column = frame[name] if name in frame else pd.Series(pd.NA, index=frame.index)
        if _DTYPES[name] == "datetime64[us]":
            column = pd.to_datetime(column)
            if isinstance(column.dtype, pd.DatetimeTZDtype):
                column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        out[name] = column.astype(_DTYPES[name])
    return pd.DataFrame(out, index=frame.index)
