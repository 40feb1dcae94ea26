"""Hand-made worlds that are not the demo world: each one is a shape of real log the pipeline must answer well.

``python benchmarks/worlds.py OUT_DIR`` writes one folder of CSV tables per world (accounts, events, conversions);
``benchmarks/verdict_bench.py`` trains on each and prints the verdict table. Every world is seeded and small
enough to train in a minute or two.

* ``linear``: the conversion hazard is a linear function of a few log usage counts and one numeric fit
  attribute (no interactions, no thresholds): a logistic model is the right shape here.
* ``one_event_days``: a purchase log with a single event type and day-resolution dates; converting depends on
  recency and frequency.
* ``signups_stop``: new accounts stop arriving half-way through the log while conversions go on (a lead funnel
  whose intake closed): the newest snapshots hold no fresh account.
* ``first_day``: half of the buyers pay on the day they sign up (before any weekly snapshot can see them); the
  others convert later, driven by usage.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2024-01-01")


def _frames(created: np.ndarray, event_day: list[np.ndarray], event_name: list[np.ndarray], converted: np.ndarray,
            fit: dict[str, np.ndarray], day_resolution: bool, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """The three tables from per-account arrays (days since START as floats; converted NaN: never)."""
    ids = np.array([f"acc{i:05d}" for i in range(len(created))])
    accounts = pd.DataFrame({"account_id": ids, "created_at": START + pd.to_timedelta(created, unit="D"), **fit})
    account = np.concatenate([np.full(len(d), i) for i, d in enumerate(event_day)]) if event_day else np.array([])
    days = np.concatenate(event_day) if event_day else np.array([])
    names = np.concatenate(event_name) if event_name else np.array([])
    stamps = START + pd.to_timedelta(days, unit="D")
    if day_resolution:
        stamps = stamps.floor("D")
        accounts["created_at"] = accounts["created_at"].dt.floor("D")
    events = pd.DataFrame({"account_id": ids[account.astype(int)], "event": names, "timestamp": stamps})
    events = events.sort_values(["timestamp", "account_id"], kind="stable").reset_index(drop=True)
    done = ~np.isnan(converted)
    when = START + pd.to_timedelta(converted[done], unit="D")
    conversions = pd.DataFrame({"account_id": ids[done], "converted_at": when.floor("D") if day_resolution else when})
    return {"accounts": accounts, "events": events, "conversions": conversions}


def _simulate(n: int, days: int, created: np.ndarray, rates: np.ndarray, names: list[str], mix: np.ndarray,
              hazard, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Day-by-day Poisson activity per account (``rates``: accounts x days, events a day) and a daily conversion
    hazard ``hazard(day, counts_7d, counts_30d, days_since_signup)`` -> probability per account."""
    counts = np.zeros((n, days), dtype=np.int32)
    converted = np.full(n, np.nan)
    start = np.floor(created).astype(int)
    for d in range(days):
        alive = (start <= d) & np.isnan(converted)
        counts[alive, d] = rng.poisson(rates[alive, d])
        lo7, lo30 = max(0, d - 7), max(0, d - 30)
        c7, c30 = counts[:, lo7:d].sum(axis=1), counts[:, lo30:d].sum(axis=1)
        p = hazard(d, c7, c30, d - created)
        hit = alive & (d > start) & (rng.random(n) < p)
        converted[hit] = d + rng.random(hit.sum())
    event_day, event_name = [], []
    for i in range(n):
        days_i = np.repeat(np.arange(days), counts[i])
        stop = converted[i] if not np.isnan(converted[i]) else days
        days_i = days_i[days_i < stop] + rng.random(len(days_i[days_i < stop]))
        days_i = np.maximum(days_i, created[i] + 1e-3)
        event_day.append(days_i)
        event_name.append(rng.choice(names, size=len(days_i), p=mix))
    return event_day, event_name, converted


def linear(n: int = 4000, days: int = 300, seed: int = 1) -> dict[str, pd.DataFrame]:
    """A hazard linear in log usage and a numeric fit attribute: the logistic baseline's home ground."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, days - 60, n)
    size = np.exp(rng.normal(2.5, 1.0, n))
    level = rng.gamma(1.5, 1.0, n)
    rates = np.repeat(level[:, None], days, axis=1) * rng.gamma(4, 0.25, (n, days))

    def hazard(d, c7, c30, age):
        z = -9.6 + 0.55 * np.log1p(c7) + 0.35 * np.log1p(c30) + 0.25 * np.log(size) - 0.004 * age
        return 1 / (1 + np.exp(-z))

    event_day, event_name, converted = _simulate(n, days, created, rates, ["task", "report", "invite"],
                                                 np.array([0.6, 0.3, 0.1]), hazard, rng)
    return _frames(created, event_day, event_name, converted, {"employees": np.round(size).astype(int)}, False, rng)


def one_event_days(n: int = 5000, days: int = 300, seed: int = 2) -> dict[str, pd.DataFrame]:
    """One event type ("purchase"), dates without a time: recency and frequency decide."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, days - 30, n)
    level = rng.gamma(0.8, 0.4, n)
    decay = rng.uniform(0.0, 0.02, n)
    t = np.arange(days)[None, :]
    rates = level[:, None] * np.exp(-decay[:, None] * np.maximum(t - created[:, None], 0))

    def hazard(d, c7, c30, age):
        z = -8.3 + 0.9 * (c7 > 0) + 0.3 * np.log1p(c30) - 0.003 * age
        return 1 / (1 + np.exp(-z))

    event_day, event_name, converted = _simulate(n, days, created, rates, ["purchase"], np.array([1.0]), hazard, rng)
    country = rng.choice(["US", "DE", "FR", "BR", "IN"], n, p=[0.4, 0.2, 0.15, 0.15, 0.1])
    return _frames(created, event_day, event_name, converted, {"country": country}, True, rng)


def signups_stop(n: int = 4000, days: int = 360, seed: int = 3) -> dict[str, pd.DataFrame]:
    """Sign-ups only in the first half of the log; conversions go on until its end."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, days / 2, n)
    level = rng.gamma(1.2, 0.6, n)
    t = np.arange(days)[None, :]
    rates = level[:, None] * np.exp(-0.01 * np.maximum(t - created[:, None], 0))
    source = rng.choice(["ads", "organic", "partner", "event"], n, p=[0.4, 0.3, 0.2, 0.1])
    lift = np.select([source == "partner", source == "event"], [0.8, 0.4], 0.0)

    def hazard(d, c7, c30, age):
        z = -8.6 + 0.45 * np.log1p(c7) + 0.25 * np.log1p(c30) + lift - 0.006 * age
        return 1 / (1 + np.exp(-z))

    event_day, event_name, converted = _simulate(n, days, created, rates, ["visit", "form_started", "form_done"],
                                                 np.array([0.7, 0.2, 0.1]), hazard, rng)
    return _frames(created, event_day, event_name, converted, {"source": source}, False, rng)


def first_day(n: int = 5000, days: int = 300, seed: int = 4) -> dict[str, pd.DataFrame]:
    """Half the buyers pay on their first day; the rest convert later, driven by usage."""
    rng = np.random.default_rng(seed)
    created = rng.uniform(0, days - 30, n)
    level = rng.gamma(1.0, 0.8, n)
    rates = np.repeat(level[:, None], days, axis=1)
    plan = rng.choice(["free", "trial"], n, p=[0.7, 0.3])

    def hazard(d, c7, c30, age):
        z = -9.6 + 0.5 * np.log1p(c7) + 0.3 * np.log1p(c30) + 0.5 * (plan == "trial")
        return 1 / (1 + np.exp(-z))

    event_day, event_name, converted = _simulate(n, days, created, rates, ["open", "edit", "share"],
                                                 np.array([0.5, 0.35, 0.15]), hazard, rng)
    # as many first-day buyers as later ones: they pay a few hours after signing up, after a burst of use
    later = int(np.count_nonzero(~np.isnan(converted)))
    quick = rng.choice(np.flatnonzero(np.isnan(converted)), size=later, replace=False)
    converted[quick] = created[quick] + rng.uniform(0.05, 0.9, len(quick))
    for i in quick:
        burst = created[i] + np.sort(rng.uniform(0, converted[i] - created[i], rng.integers(3, 12)))
        event_day[i] = burst
        event_name[i] = rng.choice(["open", "edit", "share"], size=len(burst), p=[0.3, 0.4, 0.3])
    return _frames(created, event_day, event_name, converted, {"plan": plan}, False, rng)


WORLDS = {"linear": linear, "one_event_days": one_event_days, "signups_stop": signups_stop, "first_day": first_day}


def write(out: Path, name: str, **size) -> Path:
    """Write world ``name`` as CSV tables into ``out/name`` (once: an existing folder is kept)."""
    folder = Path(out) / name
    if (folder / "conversions.csv").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in WORLDS[name](**size).items():
        frame.to_csv(folder / f"{table}.csv", index=False)
    return folder


def main() -> None:
    """Command line: write every world (or the ones named) into a folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--world", nargs="*", default=list(WORLDS), choices=list(WORLDS))
    args = parser.parse_args()
    for name in args.world:
        print(write(args.out, name))


if __name__ == "__main__":
    main()
