"""The demo world itself: ``generate_demo`` runs the generator (accounts, latents, hazard, activity,
quirks, tables) and returns a ``DemoWorld``, the four tables plus the exact conversion probability."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from demo.activity import draw_events, draw_touches
from demo.attributes import ATTRIBUTES, draw_history
from demo.config import US_PER_DAY, DemoConfig, check_config, origin
from demo.firmographics import draw_accounts
from demo.frames import (account_frame, account_ids, attribute_frame, conversion_frame, event_frame, string_column,
                         touch_frame, user_frame)
from demo.latents import cumulative_hazard, daily_hazard, draw_conversions, first_arrival, latents
from demo.people import draw_people
from demo.stale import add_stale


@dataclass(frozen=True, eq=False)
class DemoWorld:
    """The input tables of the contract (touches, users and account_attributes None without them) plus the
    generator's exact hazard.

    The private arrays hold one row per row of ``accounts`` and describe the true process.
    """

    accounts: pd.DataFrame
    events: pd.DataFrame
    conversions: pd.DataFrame
    touches: pd.DataFrame | None
    users: pd.DataFrame | None
    config: DemoConfig
    _created: np.ndarray = field(repr=False)     # days since start, per account
    _converted: np.ndarray = field(repr=False)   # days since start, inf when never (recorded or not)
    _hazard: np.ndarray = field(repr=False)      # (accounts, days) per-day hazard rate
    _cum: np.ndarray = field(repr=False)         # (accounts, days + 1) cumulative hazard at midnights
    _stale: np.ndarray = field(repr=False)       # per account: in the stale pool
    account_attributes: pd.DataFrame | None = None  # the attribute history (None without it)

    @property
    def stale_accounts(self) -> pd.Series:
        """Ids of the stale-pool accounts (empty unless ``stale_share`` > 0)."""
        return self.accounts["account_id"][self._stale].reset_index(drop=True)

    def _cum_at(self, x: float) -> np.ndarray:
        """Cumulative hazard of every account from the period start up to day offset x."""
        days = self.config.days
        x = min(max(x, 0.0), float(days))
        d = min(int(np.floor(x)), days - 1)
        # within day d the hazard only runs once the account exists
        return self._cum[:, d] + self._hazard[:, d] * np.clip(x - np.maximum(d, self._created), 0.0, None)

    def true_probability(self, as_of: Sequence[pd.Timestamp] | pd.DatetimeIndex | pd.Timestamp,
                         horizon_days: int = 30) -> pd.DataFrame:
        """P(converts in [as_of, as_of + horizon)) of each account eligible at each as_of.

        Exact: the hazard is integrated over the horizon, fractional days included. The
        world ends with the period, so a horizon running past it is cut there (as are the
        realised conversions).

        This is the truth about real conversions and exact signup times, whatever the tables
        show: stale accounts get 0; under ``labels_after_days`` an account that converted
        unrecorded is no longer eligible after its real conversion although the tables still
        show it as a lead; under ``day_resolution`` the tables' times are floored.
        """
        stamps = pd.DatetimeIndex([as_of] if isinstance(as_of, (str, pd.Timestamp)) else list(as_of))
        if stamps.tz is not None:
            stamps = stamps.tz_convert("UTC").tz_localize(None)
        start = origin(self.config)
        rows, when, probs = [np.zeros(0, np.int64)], [np.zeros(0, "datetime64[us]")], [np.zeros(0)]
        for stamp in stamps.as_unit("us"):
            t = (stamp - start) / pd.Timedelta(days=1)
            eligible = np.flatnonzero((self._created < t) & (self._converted >= t))
            p = -np.expm1(self._cum_at(t) - self._cum_at(t + horizon_days))
            rows.append(eligible)
            when.append(np.repeat(stamp.to_datetime64(), len(eligible)))
            probs.append(np.clip(p[eligible], 0.0, 1.0))
        ids = string_column(self.accounts["account_id"].to_numpy(object), np.concatenate(rows))
        return pd.DataFrame({"account_id": ids,
                             "as_of": np.concatenate(when).astype("datetime64[us]"), "p_true": np.concatenate(probs)})

    def weekly_snapshots(self, horizon_days: int = 30) -> pd.DatetimeIndex:
        """Mondays 00:00 UTC after the start whose horizon ends inside the period."""
        start = origin(self.config)
        end = start + pd.Timedelta(days=self.config.days)
        mondays = pd.date_range(start + pd.Timedelta(days=1), end - pd.Timedelta(days=horizon_days),
                                freq="W-MON", unit="us")
        return mondays.normalize()

    def write(self, directory: str | Path, weekly_truth: bool = True) -> Path:
        """Write the tables (no touches, users or account_attributes file without them) and truth.parquet as Parquet
        files into directory."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name in ("accounts", "events", "conversions", "touches", "users", "account_attributes"):
            if getattr(self, name) is not None:
                getattr(self, name).to_parquet(path / f"{name}.parquet", index=False)
        if weekly_truth:
            self.true_probability(self.weekly_snapshots()).to_parquet(path / "truth.parquet", index=False)
        return path


def generate_demo(config: DemoConfig = DemoConfig()) -> DemoWorld:
    """Generate the demo world of config; the same config always gives the same world."""
    check_config(config)
    # one random stream, drawn from in this order: reordering the steps below gives another world
    rng = np.random.default_rng(config.seed)
    acc = draw_accounts(rng, config)
    lat = latents(rng, config, acc)
    people = draw_people(config, acc, lat["users"])  # a stream of its own
    lat["buyer_since"] = people.pop("buyer_since")
    hazard = daily_hazard(rng, acc, lat)
    cum = cumulative_hazard(hazard, acc["created"])
    converted = first_arrival(rng, hazard, cum, acc["created"])
    # drawn even when the variant has no touches, so that the other tables stay the same
    touches = draw_touches(rng, config, acc, lat)
    events = draw_events(rng, config, acc, lat)
    buyers, conv_us, amount = draw_conversions(rng, acc, lat["users"], converted)
    converted_days = np.full(config.accounts, np.inf)
    converted_days[buyers] = conv_us / US_PER_DAY
    truth = {"converted": converted_days, "hazard": hazard, "cum": cum,
             "stale": np.zeros(config.accounts, bool), "team": lat["users"][:, -1]}
    n_stale = round(config.stale_share * config.accounts)
    if n_stale:
        acc, truth, events, touches, buyers, people = add_stale(config, n_stale, acc, truth, events, touches, buyers,
                                                                people)
    ids = account_ids(len(acc["created"]))
    history = draw_history(config, acc, truth["converted"]) if config.attribute_history and config.fit_columns else None
    return DemoWorld(account_frame(config, ids, acc, history["today"] if history else None),
                     event_frame(config, ids, truth["team"], *events),
                     conversion_frame(config, ids, buyers, conv_us, amount),
                     touch_frame(config, ids, *touches) if config.touches else None,
                     user_frame(config, ids, people) if config.users else None, config,
                     _created=acc["created"], _converted=truth["converted"], _hazard=truth["hazard"],
                     _cum=truth["cum"], _stale=truth["stale"],
                     account_attributes=attribute_frame(config, ids, history, ATTRIBUTES) if history else None)
