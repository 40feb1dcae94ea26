"""The demo world: a seeded, synthetic product-led SaaS company (contract section 6).

Every account has a latent engagement trajectory, intent pulses, a sales-assist (demo)
window and a team-size trajectory. Product events and marketing touches are Poisson noise
around those latents, and the daily conversion hazard is a function of the latents only,
so the generator knows the exact probability of converting within any horizon
(``DemoWorld.true_probability``): the ceiling any model trained on the tables can reach.

``DemoConfig`` also switches on quirks of real data (labels recorded only from some date,
stale pools that never convert, no firmographics, a single event name, day-resolution
timestamps, an id-like text column, no touches, no user ids); ``VARIANTS`` names ready-made
combinations (``DemoConfig.variant("bare")``). A quirk changes what the tables show, never
how the normal accounts behave: a variant is the quirk-free world of the same seed, seen
through the quirk (stale accounts come from a random stream of their own; adding them
renumbers the ids, which follow signup order in both pools alike).
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

US_PER_DAY = 86_400_000_000
PRE_SIGNUP_DAYS = 30  # marketing touches may precede the signup by up to this many days

# name -> (share, fit effect on the log hazard)
INDUSTRIES = {"software": (.22, .45), "fintech": (.08, .4), "ecommerce": (.13, .1), "healthcare": (.08, 0.),
              "education": (.11, -.5), "media": (.09, -.1), "manufacturing": (.09, -.1),
              "nonprofit": (.07, -.8), "agency": (.13, .1)}
COUNTRIES = {"US": (.34, .2), "GB": (.08, .1), "DE": (.07, .1), "FR": (.05, 0.), "IN": (.1, -.5),
             "BR": (.06, -.4), "CA": (.05, .1), "AU": (.04, .1), "NL": (.03, .1), "other": (.18, -.3)}
FUNDING = {"bootstrapped": (.35, -.4), "seed": (.25, 0.), "series_a": (.18, .3),
           "series_b_plus": (.14, .5), "public": (.08, .2)}
ROLES = {"engineer": (.26, 0.), "product_manager": (.19, .2), "founder": (.16, .4),
         "marketer": (.15, 0.), "operations": (.17, 0.), "student": (.07, -2.5)}
USE_CASES = ("project_management", "crm", "support", "automation", "analytics")
# P(use_case | role), rows in ROLES order: engineers automate, marketers run a CRM, ...
USE_CASE_GIVEN_ROLE = np.array([[.15, .05, .1, .45, .25], [.55, .1, .1, .1, .15], [.35, .3, .1, .15, .1],
                                [.2, .5, .05, .05, .2], [.3, .15, .35, .15, .05], [.5, .1, .05, .15, .2]])
FUNDING_LOG_EMPLOYEES = np.log([6., 12., 40., 200., 2000.])
EVENT_TYPES = ("session_started", "task_created", "project_created", "teammate_invited", "comment_added",
               "file_uploaded", "api_call", "integration_connected", "dashboard_viewed", "report_exported",
               "phone_number_bought", "billing_page_viewed")
TOUCH_TYPES = ("email_opened", "webinar_attended", "whitepaper_downloaded", "demo_requested",
               "pricing_page_visited")
# Feature settings that only make sense on the demo world: they travel with it (features.config.FeatureConfig.for_source).
DEMO_FEATURES = {
    "key_events": ("task_created", "teammate_invited", "integration_connected", "api_call", "phone_number_bought"),
    "plan_limits": {"seats": {"used": "active_users", "limit": "seat_limit"}},
}


def demo_features(settings: dict) -> dict:
    """What a demo world of these ``data.demo`` settings brings: its key events unless every event has one
    name, its seat limit unless the accounts carry no fit columns."""
    single, fit = bool(settings.get("single_event", False)), bool(settings.get("fit_columns", True))
    return {"key_events": () if single else DEMO_FEATURES["key_events"],
            "plan_limits": DEMO_FEATURES["plan_limits"] if fit and settings.get("user_ids", True) else {}}


HAZARD_BASE = -7.9  # sets the 30-day base rate among eligible accounts to roughly 4%
SINGLE_EVENT = "activity"  # the one event name of a single_event world
# what stale accounts do in their first week, and how often
STALE_EVENTS = {"session_started": .6, "task_created": .2, "project_created": .1, "dashboard_viewed": .1}
STALE_MAX_EVENTS, STALE_ACTIVE_DAYS = 5, 7
# Random streams of the quirks that draw, apart from the main one so that the normal accounts stay the same.
STALE_STREAM, EXTERNAL_ID_STREAM = 1, 2
# Ready-made quirk variants: DemoConfig field overrides (DemoConfig.variant(name)); tests and benchmarks use them.
VARIANTS: dict[str, dict] = {
    "short_log": {"days": 140},  # a 20-week log
    "late_labels": {"days": 365, "labels_after_days": 150},
    "stale_pools": {"stale_share": 0.5},
    "no_fit": {"fit_columns": False},
    "single_event": {"single_event": True},
    "day_resolution": {"day_resolution": True},
    "id_column": {"id_column": True},
    "no_touches": {"touches": False},
    "no_user_ids": {"user_ids": False},
    # the least data that still meets the contract
    "bare": {"fit_columns": False, "single_event": True, "touches": False, "user_ids": False},
}


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of the demo world, and the real-data quirks it shows (all off by default)."""

    accounts: int = 3000
    days: int = 240
    start: str = "2024-01-01"
    events_per_account: float = 150.0
    seed: int = 7
    labels_after_days: int | None = None  # conversions in the first N days happen but are not recorded
    stale_share: float = 0.0   # round(share * accounts) extra accounts: a few events in week one, never convert
    fit_columns: bool = True   # False: accounts holds only account_id and created_at
    single_event: bool = False  # True: every event is called "activity" and has quantity 1.0
    day_resolution: bool = False  # True: every timestamp is floored to 00:00 (UTC) of its day
    id_column: bool = False    # True: accounts gain `external_id`, 16 random hex digits per account
    touches: bool = True       # False: no touches table (DemoWorld.touches is None)
    user_ids: bool = True      # False: events have no user_id column

    @classmethod
    def variant(cls, name: str, **overrides) -> DemoConfig:
        """The config of a named quirk variant (see ``VARIANTS``), with further field overrides.

        >>> DemoConfig.variant("late_labels", accounts=100).labels_after_days
        150
        """
        if name not in VARIANTS:
            raise ValueError(f"unknown demo variant {name!r}; known variants: {', '.join(VARIANTS)}")
        return cls(**{**VARIANTS[name], **overrides})


@dataclass(frozen=True, eq=False)
class DemoWorld:
    """The four input tables of the contract (touches None without them) plus the generator's exact hazard.

    The private arrays hold one row per row of ``accounts`` and describe the true process.
    """

    accounts: pd.DataFrame
    events: pd.DataFrame
    conversions: pd.DataFrame
    touches: pd.DataFrame | None
    config: DemoConfig
    _created: np.ndarray = field(repr=False)     # days since start, per account
    _converted: np.ndarray = field(repr=False)   # days since start, inf when never (recorded or not)
    _hazard: np.ndarray = field(repr=False)      # (accounts, days) per-day hazard rate
    _cum: np.ndarray = field(repr=False)         # (accounts, days + 1) cumulative hazard at midnights
    _stale: np.ndarray = field(repr=False)       # per account: in the stale pool

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
        start = _origin(self.config)
        rows, when, probs = [np.zeros(0, np.int64)], [np.zeros(0, "datetime64[us]")], [np.zeros(0)]
        for stamp in stamps.as_unit("us"):
            t = (stamp - start) / pd.Timedelta(days=1)
            eligible = np.flatnonzero((self._created < t) & (self._converted >= t))
            p = -np.expm1(self._cum_at(t) - self._cum_at(t + horizon_days))
            rows.append(eligible)
            when.append(np.repeat(stamp.to_datetime64(), len(eligible)))
            probs.append(np.clip(p[eligible], 0.0, 1.0))
        return pd.DataFrame({"account_id": _strings(self.accounts["account_id"].to_numpy(object), np.concatenate(rows)),
                             "as_of": np.concatenate(when).astype("datetime64[us]"), "p_true": np.concatenate(probs)})

    def weekly_snapshots(self, horizon_days: int = 30) -> pd.DatetimeIndex:
        """Mondays 00:00 UTC after the start whose horizon ends inside the period."""
        start = _origin(self.config)
        end = start + pd.Timedelta(days=self.config.days)
        mondays = pd.date_range(start + pd.Timedelta(days=1), end - pd.Timedelta(days=horizon_days),
                                freq="W-MON", unit="us")
        return mondays.normalize()

    def write(self, directory: str | Path, weekly_truth: bool = True) -> Path:
        """Write the tables (no touches file without touches) and truth.parquet as Parquet files into directory."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name in ("accounts", "events", "conversions", "touches"):
            if getattr(self, name) is not None:
                getattr(self, name).to_parquet(path / f"{name}.parquet", index=False)
        if weekly_truth:
            self.true_probability(self.weekly_snapshots()).to_parquet(path / "truth.parquet", index=False)
        return path


def _origin(cfg: DemoConfig) -> pd.Timestamp:
    """The first instant of the period as a naive UTC timestamp."""
    start = pd.Timestamp(cfg.start)
    return start.tz_convert("UTC").tz_localize(None) if start.tz is not None else start


def _draw(rng: np.random.Generator, n: int, table: dict[str, tuple[float, float]]) -> np.ndarray:
    shares = np.array([s for s, _ in table.values()])
    return rng.choice(len(table), size=n, p=shares / shares.sum())


def _effects(table: dict[str, tuple[float, float]]) -> np.ndarray:
    return np.array([e for _, e in table.values()])


def _strings(names: Sequence[str] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """Look codes up in names through Arrow: fast and compact for tens of millions of rows."""
    arr = pa.array(np.asarray(names, dtype=object), type=pa.string()).take(pa.array(codes))
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _expand(cells: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One entry of cells per counted occurrence, in cell order."""
    nz = np.flatnonzero(counts)
    return np.repeat(cells[nz], counts[nz])


def _bump(age: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Gamma-shaped pulse: rises from start, peaks at 1 one width later, then decays."""
    x = np.clip((age - start[:, None]) / width[:, None], 0.0, None)
    return (x * np.exp(1.0 - x)).astype(np.float32)


def _accounts(rng: np.random.Generator, cfg: DemoConfig) -> dict[str, np.ndarray]:
    """Signup times (sorted, so ids follow signup order), firmographics, plan and fit effects."""
    n, days = cfg.accounts, cfg.days
    # a launch cohort in the first week gives early history; later signups grow linearly
    launch = rng.random(n) < 0.06
    growth = days * (np.sqrt(1.0 + 3.0 * rng.random(n)) - 1.0)  # density proportional to 1 + x/days
    created_s = np.floor(np.where(launch, rng.random(n) * min(7, days), growth) * 86_400)
    created_s = np.sort(np.minimum(created_s, days * 86_400 - 1))  # ids follow signup order
    funding = _draw(rng, n, FUNDING)
    employees = np.clip(np.round(np.exp(rng.normal(FUNDING_LOG_EMPLOYEES[funding], 1.0))), 1, 10_000)
    role = _draw(rng, n, ROLES)
    use_case = (rng.random(n)[:, None] > np.cumsum(USE_CASE_GIVEN_ROLE[role], axis=1)).sum(axis=1)
    trial = rng.random(n) < 0.3
    seat_limit = np.where(trial, 20, np.where(rng.random(n) < 0.65, 5, 10))
    industry, country = _draw(rng, n, INDUSTRIES), _draw(rng, n, COUNTRIES)
    fit = _effects(INDUSTRIES)[industry] + _effects(COUNTRIES)[country] + _effects(FUNDING)[funding]
    role_fx = _effects(ROLES)[role]
    return {"created": created_s / 86_400.0, "created_us": created_s.astype(np.int64) * 1_000_000,
            "industry": industry, "country": country, "funding": funding,
            "employees": employees.astype(np.int64), "role": role, "use_case": np.minimum(use_case, 4),
            "trial": trial, "seat_limit": seat_limit, "fit": fit, "role_fx": role_fx,
            "good_fit": fit + np.minimum(role_fx, 0.0) + 0.2 * np.log10(employees) > 0.35,
            "student": role == 5, "engineer": role == 0,
            "api_gate": np.isin(industry, [0, 1]) | (role == 0)}  # API use signals intent only here


def _stamps(rng: np.random.Generator, acc: np.ndarray, day: np.ndarray, created_us: np.ndarray) -> np.ndarray:
    """Microseconds since the start, uniform within each day but never before the signup."""
    lo = created_us[acc] - day * US_PER_DAY
    lo = np.where((lo >= 0) & (lo < US_PER_DAY), lo, 0)  # only the signup day is cut short
    return day * US_PER_DAY + lo + np.floor(rng.random(len(acc)) * (US_PER_DAY - lo)).astype(np.int64)


def _latents(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per account-day latent state: engagement, intent, demo window, team, product drivers."""
    n, days, created = cfg.accounts, cfg.days, acc["created"]
    day = np.arange(days, dtype=np.float64)
    age = (day[None, :] + 0.5 - created[:, None]).astype(np.float32)  # at mid-day
    frac = np.clip(day[None, :] + 1.0 - created[:, None], 0.0, 1.0).astype(np.float32)  # share of day alive
    weekday = np.where((_origin(cfg).day_of_week + np.arange(days)) % 7 < 5, 1.0, 0.35)
    fit = acc["fit"]

    # engagement: onboarding ramp, plateau, decay for churners, autocorrelated bursts
    level = np.exp(rng.normal(0.3 * fit, 0.8))
    ramp = rng.uniform(2.0, 21.0, n)
    churns = rng.random(n) < 1.0 / (1.0 + np.exp(0.4 + 1.2 * fit))
    churn_at, churn_rate = rng.exponential(40.0, n) + 7.0, rng.uniform(0.02, 0.12, n)
    noise = rng.normal(0.0, 0.3, (n, days)).astype(np.float32)
    for d in range(1, days):
        noise[:, d] += np.float32(0.8) * noise[:, d - 1]
    alive_age = np.clip(age, 0.0, None)
    decay = np.exp(-(churns * churn_rate)[:, None] * np.clip(alive_age - churn_at[:, None], 0.0, None))
    # some accounts roll the product out to their team within a few days, and use it more after
    rollout = rng.random(n) < (0.05 + 0.15 * (acc["employees"] >= 50)) * np.minimum(level, 3.0)
    rollout_at = np.where(rollout, rng.uniform(3.0, 60.0, n), np.inf)
    rollout_size = np.exp(rng.normal(np.log(4.0 + np.minimum(acc["employees"], 200) ** 0.5), 0.5, n))
    adoption = np.where(age >= rollout_at[:, None] + 4.0, 1.5, 1.0)
    engagement = (level[:, None] * -np.expm1(-alive_age / ramp[:, None]) * decay * adoption
                  * np.exp(noise - 0.125)).astype(np.float32)
    del noise, decay, adoption

    # intent: up to three pulses, likelier for engaged, well-fitting accounts
    intent = np.zeros((n, days), np.float32)
    for _ in range(3):
        present = rng.random(n) < 0.2 + 0.3 / (1.0 + np.exp(-fit - 0.5 * np.log(level)))
        start, width = rng.uniform(2.0, max(days, 3.0), n), rng.uniform(3.0, 12.0, n)
        amp = np.where(present, np.exp(rng.normal(-0.2, 0.5, n)), 0.0).astype(np.float32)
        intent += amp[:, None] * _bump(age, start, width)
    # buying follows intent with a lag: the hazard reads a ~10-day memory of it, so that the
    # signals intent leaves (billing and pricing views, email opens) come before the purchase
    memory = np.zeros_like(intent)
    for d in range(1, days):
        memory[:, d] = np.float32(0.9) * memory[:, d - 1] + np.float32(0.1) * intent[:, d - 1]
    demo_start = np.where(rng.random(n) < 0.06 + 0.08 * acc["good_fit"], rng.uniform(0.0, days, n), np.inf)

    # team: invites follow engagement and intent; past the plan's seat limit they get rarer
    invite_prop = (0.012 * (acc["employees"] / 10.0) ** 0.35 * np.exp(rng.normal(0.0, 0.8, n))
                   * np.array([1.6, 1.2, 1.0, 0.6, 0.8])[acc["use_case"]] * np.where(acc["student"], 0.4, 1.0))
    users = np.ones((n, days + 1), np.int32)  # users at the start of each day
    invites = np.zeros((n, days), np.int32)
    for d in range(days):
        organic = invite_prop * engagement[:, d] * frac[:, d] * weekday[d] * (1.0 + intent[:, d])
        at_limit = users[:, d] >= acc["seat_limit"]
        # a deliberate rollout pushes on through the seat limit more often than organic invites
        rolling = np.where(np.abs(age[:, d] - rollout_at - 2.0) < 2.0, rollout_size / 4.0, 0.0)
        invites[:, d] = rng.poisson(organic * np.where(at_limit, 0.3, 1.0) + rolling * np.where(at_limit, 0.7, 1.0))
        users[:, d + 1] = users[:, d] + invites[:, d]
    team = users[:, :days].astype(np.float32)
    ratio = team / acc["seat_limit"][:, None].astype(np.float32)
    seat_pressure = (1.0 / (1.0 + np.exp(np.float32(-10.0) * (ratio - np.float32(0.8))))).astype(np.float32)

    # product drivers (expected daily counts before the global event scale)
    uc = acc["use_case"]
    w_api = (np.where(acc["engineer"], 1.0, 0.08) * np.array([0.5, 0.7, 0.8, 2.0, 1.5])[uc]
             * np.where(acc["api_gate"] & ~acc["engineer"], 3.0, 1.0) * np.exp(rng.normal(0.0, 0.6, n)))
    integ = ((0.012 * np.array([0.6, 1.2, 1.0, 2.0, 1.2])[uc])[:, None] * engagement * frac).astype(np.float32)
    return {"age": age, "frac": frac, "weekday": weekday.astype(np.float32), "engagement": engagement,
            "intent": intent, "intent_memory": memory, "demo_start": demo_start, "users": users,
            "invites": invites, "team": team, "seat_pressure": seat_pressure, "w_api": w_api.astype(np.float32),
            "integ": integ}


def _hazard(rng: np.random.Generator, acc: dict[str, np.ndarray], lat: dict[str, np.ndarray]) -> np.ndarray:
    """Daily conversion hazard from the latents and fit, with interactions rules would miss."""
    age, team, demo = lat["age"], lat["team"], lat["demo_start"][:, None]
    api = lat["w_api"][:, None] * lat["engagement"]
    depth = np.cumsum(lat["integ"], axis=1) - lat["integ"]  # expected integrations before each day
    log_h = (HAZARD_BASE + 0.7 * acc["fit"] + acc["role_fx"] + rng.normal(0.0, 0.3, len(age)))[:, None] + (
        0.35 * np.log(np.clip(lat["engagement"], 0.05, 20.0))
        + 0.5 * np.minimum(lat["intent"], 2.0) + 1.6 * np.minimum(lat["intent_memory"], 1.5)
        + 1.0 * lat["seat_pressure"] + 0.2 * np.log(team)
        + np.where(acc["api_gate"][:, None], 0.6 * np.log1p(api), 0.0)  # API use matters for some only
        + 0.3 * np.minimum(depth, 3.0)
        # big companies buy only once several people use the product
        + np.where(acc["employees"][:, None] >= 200, np.where(team < 3, -1.5, np.where(team >= 5, 0.6, 0.0)), 0.0)
        # a sales conversation after a demo request pays off only for good-fit accounts
        + np.where(acc["good_fit"][:, None] & (age >= demo) & (age < demo + 35), 2.0, 0.0)
        + np.where(acc["trial"][:, None] & (age >= 10) & (age < 17), 1.2, 0.0)  # the trial ends at day 14
        + 0.7 * np.log(lat["weekday"])[None, :])
    return np.exp(log_h.astype(np.float64))


def _convert(rng: np.random.Generator, hazard: np.ndarray, cum: np.ndarray, created: np.ndarray) -> np.ndarray:
    """First arrival of the hazard process (days since start, inf when none), sampled exactly."""
    budget = rng.exponential(1.0, len(created))
    day = (cum[:, 1:] <= budget[:, None]).sum(axis=1)
    hit = day < hazard.shape[1]
    rows, d = np.flatnonzero(hit), day[hit]
    at = np.full(len(created), np.inf)
    at[rows] = np.minimum(np.maximum(d, created[rows]) + (budget[rows] - cum[rows, d]) / hazard[rows, d],
                          d + 1.0 - 1e-9)  # keep float rounding inside the crossing day
    return at


def _events(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray],
            lat: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Product events as Poisson noise around the latents: (account, type, us since start, user, quantity)."""
    frac, team, intent, uc = lat["frac"], lat["team"], lat["intent"], acc["use_case"]
    activity = lambda: lat["engagement"] * frac * lat["weekday"][None, :] * team  # noqa: E731
    per_uc = lambda w: np.array(w, np.float32)[uc][:, None]  # noqa: E731
    rates = {
        "session_started": lambda: activity(),
        "task_created": lambda: per_uc([2.4, 1.2, 1.2, 0.9, 0.6]) * activity() * team ** np.float32(0.3),
        "project_created": lambda: np.float32(0.08) * activity(),
        "comment_added": lambda: np.float32(0.15) * activity() * (team - 1.0) ** np.float32(0.5),
        "file_uploaded": lambda: np.float32(0.25) * activity(),
        "api_call": lambda: np.float32(0.6) * lat["w_api"][:, None] * activity(),
        "integration_connected": lambda: lat["integ"] * (1.0 + intent),
        "dashboard_viewed": lambda: per_uc([0.3, 0.4, 0.3, 0.3, 1.2]) * activity(),
        "report_exported": lambda: np.float32(0.04) * activity() * (1.0 + 3.0 * intent),
        "phone_number_bought": lambda: per_uc([0.005, 0.05, 0.08, 0.02, 0.005]) * activity() * (1.0 + 3.0 * intent),
        "billing_page_viewed": lambda: (frac * lat["weekday"][None, :]
                                        * (0.01 + 0.25 * intent + 0.15 * lat["seat_pressure"])),
    }
    # one scale for all rates (invites are the team trajectory itself, so they stay as drawn)
    target = cfg.events_per_account * cfg.accounts - float(lat["invites"].sum())
    scale = max(target, 0.0) / sum(float(r().sum(dtype=np.float64)) for r in rates.values())
    alive = np.flatnonzero(frac)  # draw only where the account exists: about half the cells
    cells, types = [], []
    for k, name in enumerate(EVENT_TYPES):
        counts = (lat["invites"].ravel()[alive] if name == "teammate_invited"
                  else rng.poisson(scale * rates[name]().ravel()[alive]))
        cells.append(_expand(alive, counts))
        types.append(np.full(len(cells[-1]), k, np.int8))
    a, d = np.divmod(np.concatenate(cells), cfg.days)
    etype = np.concatenate(types)
    del cells, types
    ts = _stamps(rng, a, d, acc["created_us"])
    user = np.floor(lat["users"][a, d] * rng.random(len(a)) ** 1.6).astype(np.int64)  # the signer-up is busiest
    qty = np.ones(len(a))
    is_api = etype == EVENT_TYPES.index("api_call")
    qty[is_api] = np.clip(np.round(np.exp(rng.normal(1.5, 1.3, int(is_api.sum())))), 1.0, 500.0)
    return a, etype, ts, user, qty


def _touches(rng: np.random.Generator, cfg: DemoConfig, acc: dict[str, np.ndarray],
             lat: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Marketing touches, some in the days before signup: (account, type, us since start)."""
    n, days, frac, intent = cfg.accounts, cfg.days, lat["frac"], lat["intent"]
    resp = np.exp(rng.normal(0.0, 0.7, n)) * np.where(acc["role"] == 3, 1.5, 1.0)  # marketers open mail
    demo = (lat["age"] >= lat["demo_start"][:, None]) & (lat["age"] < lat["demo_start"][:, None] + 10)
    pre = {"email_opened": 0.012, "webinar_attended": 0.003, "whitepaper_downloaded": 0.006}
    post = {"email_opened": lambda: resp[:, None] * 0.01 * frac * (0.2 + 12.0 * intent),
            "webinar_attended": lambda: resp[:, None] * 0.002 * frac,
            "whitepaper_downloaded": lambda: resp[:, None] * 0.002 * frac,
            "demo_requested": lambda: frac * (0.0001 + 0.2 * demo),
            "pricing_page_visited": lambda: frac * (0.003 + 0.06 * intent)}
    signup_day = np.floor(acc["created"]).astype(np.int64)
    alive = np.flatnonzero(frac)
    accs, day_list, types = [], [], []
    for k, name in enumerate(TOUCH_TYPES):
        a, d = np.divmod(_expand(alive, rng.poisson(post[name]().ravel()[alive])), days)
        if name in pre:  # the PRE_SIGNUP_DAYS whole days before the signup day
            before = rng.poisson(pre[name] * PRE_SIGNUP_DAYS * resp)
            pre_acc = np.repeat(np.arange(n), before)
            pre_day = signup_day[pre_acc] - rng.integers(1, PRE_SIGNUP_DAYS + 1, len(pre_acc))
            a, d = np.concatenate([a, pre_acc]), np.concatenate([d, pre_day])
        accs.append(a)
        day_list.append(d)
        types.append(np.full(len(a), k, np.int8))
    a, d = np.concatenate(accs), np.concatenate(day_list)
    return a, np.concatenate(types), _stamps(rng, a, d, acc["created_us"])


def generate_demo(config: DemoConfig = DemoConfig()) -> DemoWorld:
    """Generate the demo world of config; the same config always gives the same world."""
    _check(config)
    rng = np.random.default_rng(config.seed)
    acc = _accounts(rng, config)
    lat = _latents(rng, config, acc)
    hazard = _hazard(rng, acc, lat)
    # integrate in float64 with the exact signup instant, as true_probability does
    alive = np.clip(np.arange(config.days) + 1.0 - acc["created"][:, None], 0.0, 1.0)
    cum = np.zeros((config.accounts, config.days + 1))
    np.cumsum(hazard * alive, axis=1, out=cum[:, 1:])
    del alive
    converted = _convert(rng, hazard, cum, acc["created"])
    # drawn even when the variant has no touches, so that the other tables stay the same
    touches = _touches(rng, config, acc, lat)
    events = _events(rng, config, acc, lat)
    buyers, conv_us, amount = _conversions(rng, acc, lat["users"], converted)
    converted_days = np.full(config.accounts, np.inf)
    converted_days[buyers] = conv_us / US_PER_DAY
    truth = {"converted": converted_days, "hazard": hazard, "cum": cum,
             "stale": np.zeros(config.accounts, bool), "team": lat["users"][:, -1]}
    n_stale = round(config.stale_share * config.accounts)
    if n_stale:
        acc, truth, events, touches, buyers = _add_stale(config, n_stale, acc, truth, events, touches, buyers)
    ids = _ids(len(acc["created"]))
    return DemoWorld(_account_frame(config, ids, acc), _event_frame(config, ids, truth["team"], *events),
                     _conversion_frame(config, ids, buyers, conv_us, amount),
                     _touch_frame(config, ids, *touches) if config.touches else None, config,
                     _created=acc["created"], _converted=truth["converted"], _hazard=truth["hazard"],
                     _cum=truth["cum"], _stale=truth["stale"])


def _check(cfg: DemoConfig) -> None:
    if (cfg.accounts < 1 or cfg.days < 1 or cfg.events_per_account <= 0 or cfg.stale_share < 0
            or (cfg.labels_after_days is not None and cfg.labels_after_days < 0)):
        raise ValueError("DemoConfig needs accounts >= 1, days >= 1, events_per_account > 0, stale_share >= 0 "
                         f"and labels_after_days >= 0 (or None), got {cfg}")


def _conversions(rng: np.random.Generator, acc: dict[str, np.ndarray], users: np.ndarray,
                 converted: np.ndarray) -> tuple[np.ndarray, ...]:
    """(buyer, us since start, seat-based first-year contract value) of every real conversion."""
    buyers = np.flatnonzero(np.isfinite(converted))
    # round up to the microsecond so that converted_at > created_at holds on the written table too
    conv_us = np.ceil(converted[buyers] * US_PER_DAY).astype(np.int64)
    seats = np.maximum(users[buyers, np.floor(converted[buyers]).astype(np.int64) + 1], 3)
    price = np.where(acc["employees"][buyers] >= 200, 30.0, 15.0)  # per seat and month
    amount = np.round(seats * price * 12 * rng.uniform(0.85, 1.0, len(buyers)), 2)
    return buyers, conv_us, amount


def _stale(cfg: DemoConfig, n: int) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    """n stale accounts that sign up like the others, act a few times in their first week, then never again.

    Returns their account arrays and their events as ``_events`` gives them, numbered from cfg.accounts.
    """
    rng = np.random.default_rng([cfg.seed, STALE_STREAM])
    acc = _accounts(rng, replace(cfg, accounts=n))
    a = np.repeat(np.arange(n), rng.integers(1, STALE_MAX_EVENTS + 1, n))
    after = np.floor(rng.random(len(a)) * (STALE_ACTIVE_DAYS * US_PER_DAY)).astype(np.int64)
    ts = np.minimum(acc["created_us"][a] + after, cfg.days * US_PER_DAY - 1)  # the world ends with the period
    kinds = np.array([EVENT_TYPES.index(e) for e in STALE_EVENTS], np.int8)
    shares = np.array(list(STALE_EVENTS.values()))
    etype = kinds[rng.choice(len(kinds), len(a), p=shares / shares.sum())]
    return acc, (a + cfg.accounts, etype, ts, np.zeros(len(a), np.int64), np.ones(len(a)))


# what the truth holds for a stale account: never converts, no hazard, a team of one
_STALE_TRUTH = {"converted": np.inf, "hazard": 0.0, "cum": 0.0, "stale": True, "team": 1}


def _add_stale(cfg: DemoConfig, n: int, acc: dict[str, np.ndarray], truth: dict[str, np.ndarray],
               events: tuple[np.ndarray, ...], touches: tuple[np.ndarray, ...], buyers: np.ndarray) -> tuple:
    """Append n stale accounts, then renumber every account in signup order (ids must not tell them apart)."""
    stale_acc, stale_events = _stale(cfg, n)
    acc = {k: np.concatenate([v, stale_acc[k]]) for k, v in acc.items()}
    truth = {k: np.concatenate([v, np.full((n, *v.shape[1:]), _STALE_TRUTH[k], v.dtype)]) for k, v in truth.items()}
    events = tuple(np.concatenate(pair) for pair in zip(events, stale_events))
    order = np.argsort(acc["created_us"], kind="stable")
    row = np.empty_like(order)
    row[order] = np.arange(len(order))
    return ({k: v[order] for k, v in acc.items()}, {k: v[order] for k, v in truth.items()},
            (row[events[0]], *events[1:]), (row[touches[0]], *touches[1:]), row[buyers])


def _ids(n: int) -> np.ndarray:
    width = max(6, len(str(n - 1)))
    return np.array([f"acc_{i:0{width}d}" for i in range(n)], dtype=object)


def _external_ids(cfg: DemoConfig, n: int) -> pd.Series:
    """16 random hex digits per account, all distinct: the id-like column of a CRM export."""
    rng = np.random.default_rng([cfg.seed, EXTERNAL_ID_STREAM])
    while True:  # a repeat among 2**64 values is all but impossible, but the ids must be unique
        hexes = np.frombuffer(rng.bytes(8 * n).hex().encode("ascii"), dtype="S16").astype(str)
        if len(np.unique(hexes)) == n:
            return _strings(hexes.astype(object), np.arange(n))


def _stamp(cfg: DemoConfig, us: np.ndarray) -> np.ndarray:
    """Microseconds since the start as naive-UTC datetime64[us]."""
    return np.datetime64(_origin(cfg).to_datetime64(), "us") + us.astype("timedelta64[us]")


def _clock(cfg: DemoConfig, us: np.ndarray) -> np.ndarray:
    """Microseconds since the start as the tables record them: at 00:00 of their (UTC) day under day_resolution."""
    if not cfg.day_resolution:
        return us
    origin = _origin(cfg)
    into_day = (origin - origin.normalize()) // pd.Timedelta(microseconds=1)
    return (us + into_day) // US_PER_DAY * US_PER_DAY - into_day


def _time_order(us: np.ndarray, acc: np.ndarray, n_accounts: int) -> np.ndarray:
    """Permutation sorting rows by timestamp, then account (one int64 key when it fits: 3x faster)."""
    shifted = us - us.min(initial=0)
    if (int(shifted.max(initial=0)) + 1) * n_accounts < 2**63:
        return np.argsort(shifted * n_accounts + acc, kind="stable")
    return np.lexsort((acc, us))


def _account_frame(cfg: DemoConfig, ids: np.ndarray, acc: dict[str, np.ndarray]) -> pd.DataFrame:
    """Accounts in id (= signup) order: id, signup, then the optional external id and firmographics."""
    frame = {"account_id": _strings(ids, np.arange(len(ids))), "created_at": _stamp(cfg, _clock(cfg, acc["created_us"]))}
    if cfg.id_column:
        frame["external_id"] = _external_ids(cfg, len(ids))
    if cfg.fit_columns:
        frame |= {
            "industry": _strings(list(INDUSTRIES), acc["industry"]), "employees": acc["employees"],
            "country": _strings(list(COUNTRIES), acc["country"]), "funding_stage": _strings(list(FUNDING), acc["funding"]),
            "signup_role": _strings(list(ROLES), acc["role"]), "use_case": _strings(USE_CASES, acc["use_case"]),
            "seat_limit": acc["seat_limit"].astype(np.int64),
            "plan": _strings(["free", "trial"], acc["trial"].astype(np.int64))}
    return pd.DataFrame(frame)


def _conversion_frame(cfg: DemoConfig, ids: np.ndarray, buyers: np.ndarray, conv_us: np.ndarray,
                      amount: np.ndarray) -> pd.DataFrame:
    """The recorded conversions: all, or under labels_after_days only those from start + N days on."""
    if cfg.labels_after_days is not None:
        recorded = conv_us >= cfg.labels_after_days * US_PER_DAY
        buyers, conv_us, amount = buyers[recorded], conv_us[recorded], amount[recorded]
    return pd.DataFrame({"account_id": _strings(ids, buyers), "converted_at": _stamp(cfg, _clock(cfg, conv_us)),
                         "amount": amount.astype(np.float64)})


def _event_frame(cfg: DemoConfig, ids: np.ndarray, team_total: np.ndarray, a: np.ndarray, etype: np.ndarray,
                 ts: np.ndarray, user: np.ndarray, qty: np.ndarray) -> pd.DataFrame:
    """Events sorted by timestamp then account, with user ids like acc_000123_u0."""
    ts = _clock(cfg, ts)
    order = _time_order(ts, a, len(ids))
    names = EVENT_TYPES
    if cfg.single_event:  # quantity 1.0 too: api_call's quantities would give the hidden type away
        names, etype, qty = (SINGLE_EVENT,), np.zeros_like(etype), np.ones(len(a))
    frame = {"account_id": _strings(ids, a[order]), "event": _strings(names, etype[order]),
             "timestamp": _stamp(cfg, ts[order])}
    if cfg.user_ids:
        totals = team_total.astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(totals)[:-1]])
        k = np.arange(int(totals.sum())) - np.repeat(offsets, totals)
        user_names = np.strings.add(np.strings.add(np.repeat(ids.astype(str), totals), "_u"), k.astype(str))
        frame["user_id"] = _strings(user_names.astype(object), (offsets[a] + user)[order])
    frame["quantity"] = qty[order]
    return pd.DataFrame(frame)


def _touch_frame(cfg: DemoConfig, ids: np.ndarray, a: np.ndarray, ttype: np.ndarray, ts: np.ndarray) -> pd.DataFrame:
    """Touches sorted by timestamp then account."""
    ts = _clock(cfg, ts)
    order = _time_order(ts, a, len(ids))
    return pd.DataFrame({"account_id": _strings(ids, a[order]), "touch": _strings(TOUCH_TYPES, ttype[order]),
                         "timestamp": _stamp(cfg, ts[order])})


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write a demo world (optionally a quirk variant) to a folder and print its row counts."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the Parquet tables into")
    parser.add_argument("--variant", choices=list(VARIANTS), help="a ready-made real-data quirk variant")
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--start")
    parser.add_argument("--events-per-account", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-truth", action="store_true", help="skip truth.parquet")
    args = parser.parse_args(argv)
    given = {k: getattr(args, k) for k in ("accounts", "days", "start", "events_per_account", "seed")
             if getattr(args, k) is not None}
    began = time.perf_counter()
    world = generate_demo(DemoConfig.variant(args.variant, **given) if args.variant else DemoConfig(**given))
    path = world.write(args.out, weekly_truth=not args.no_truth)
    for name in ("accounts", "events", "conversions", "touches"):
        frame = getattr(world, name)
        print(f"{name:12s} {'none' if frame is None else f'{len(frame):,d} rows':>17s}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {path} in {time.perf_counter() - began:.1f} s, peak RSS {peak_mb:,.0f} MB")

