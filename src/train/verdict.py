"""Every comparison with its uncertainty: a paired bootstrap over the backtest's accounts, and the words that
follow the interval.

The backtest's rows are not independent draws: an account sits in several weekly snapshots, and one
conversion labels all of those within its horizon, so counting snapshot rows (or resampling weeks, of which
a backtest has a dozen) would overstate how sure a difference is. The unit of resampling is therefore the
account: a replicate draws accounts with replacement, every snapshot row of a drawn account comes along, and
both sides of a comparison are measured on the same draw (paired), which cancels what they share. Figures
that are sums over rows (conversions, accounts flagged, a ranking's hits) make each replicate a weighted sum
of per-account totals: a thousand replicates cost a matrix product. The interval is the replicates' 2.5th to
97.5th percentile; a difference whose interval holds 0 is "no measurable difference", whatever its point.

>>> sums = {"a": np.array([3., 4., 5., 2.]), "b": np.array([1., 2., 1., 2.])}
>>> point, low, high = interval(sums, lambda s: (s["a"] - s["b"]) / 4)
>>> round(point, 2), low > 0
(2.0, True)
>>> words(2.0, 0.5, 3.5), words(0.4, -1.0, 1.8)
('finds 2.0 more conversions a week (0.5 to 3.5)', 'shows no measurable difference (-1.0 to +1.8 conversions a week)')
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import pandas as pd

REPLICATES = 1000
SEED = 20240601
CONFIDENCE = 0.95


@functools.lru_cache(maxsize=2)
def weights(n_units: int, replicates: int = REPLICATES, seed: int = SEED) -> np.ndarray:
    """(replicates x units) counts: how often each unit (account) is drawn in each replicate -- ``n_units``
    draws with replacement, i.e. multinomial with equal shares, counted with ``bincount`` (numpy's multinomial
    over tens of thousands of categories took ~1.5 s a call). float32 (exact counts, half the memory); the
    same draws serve every comparison of a run (cached, read-only), which is what makes them paired."""
    rng = np.random.default_rng(seed)
    out = np.zeros((replicates, n_units), dtype=np.float32)
    for row in out:
        if n_units:
            row[:] = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
    out.setflags(write=False)
    return out


def interval(sums: dict[str, np.ndarray], stat: Callable[[dict[str, np.ndarray]], np.ndarray],
             replicates: int = REPLICATES, seed: int = SEED) -> tuple[float, float, float]:
    """(point, low, high) of ``stat`` over units: ``sums[name]`` holds one total per unit (account), and
    ``stat(s)`` turns totals ``s`` (an array: one per replicate, or the observed one) into the figure."""
    n = len(next(iter(sums.values()))) if sums else 0
    observed = {k: np.asarray([np.sum(v)], float) for k, v in sums.items()}
    point = float(np.asarray(stat(observed), float)[0]) if n else float("nan")
    if n < 2:
        return point, float("nan"), float("nan")
    w = weights(n, replicates, seed)
    values = np.asarray(stat({k: (w @ np.asarray(v, np.float32)).astype(float) for k, v in sums.items()}), float)
    values = values[np.isfinite(values)]
    if not len(values):
        return point, float("nan"), float("nan")
    tail = (1 - CONFIDENCE) / 2 * 100
    return point, float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def words(point: float, low: float, high: float, unit: str = "conversions a week", digits: int = 1,
          up: str = "more", down: str = "fewer", verb: str = "finds ") -> str:
    """The comparison in words that follow its interval: "finds 4.6 more conversions a week (2.1 to 7.0)",
    "finds 1.2 fewer ...", or "shows no measurable difference (-0.8 to +1.1 ...)" when the interval holds 0.

    >>> words(-0.013, -0.017, -0.008, "within-week ROC AUC", 3, "higher", "lower", "")
    '0.013 lower within-week ROC AUC (0.008 to 0.017)'
    """
    fmt = f"{{:.{digits}f}}"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{'+' if point >= 0 else ''}{fmt.format(point)} {unit} (too few snapshots for an interval)"
    if low > 0:
        return f"{verb}{fmt.format(point)} {up} {unit} ({fmt.format(low)} to {fmt.format(high)})"
    if high < 0:
        return f"{verb}{fmt.format(-point)} {down} {unit} ({fmt.format(-high)} to {fmt.format(-low)})"
    return f"{'shows ' if verb else ''}no measurable difference ({low:+.{digits}f} to {high:+.{digits}f} {unit})"


def per_unit(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Sums of ``values`` per unit (account), in the order of the sorted distinct units."""
    codes, _ = pd.factorize(pd.Series(np.asarray(units)), sort=True)
    return np.bincount(codes, weights=np.asarray(values, float), minlength=int(codes.max()) + 1 if len(codes) else 0)


def concordance(y: np.ndarray, score: np.ndarray, snapshot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: for a converting row, the non-converting rows of its snapshot it outranks (ties count half)
    and how many there are; 0 and 0 for the others. Summed over any set of rows, their ratio is the
    within-snapshot ROC AUC: each week's accounts ranked among themselves, so weeks with different base rates
    or score levels do not blur it (a pooled AUC mixes them)."""
    frame = pd.DataFrame({"s": np.asarray(snapshot), "y": np.asarray(y, int), "f": np.asarray(score, float)})
    neg = frame.assign(n=1 - frame["y"]).groupby("s")["n"].transform("sum").to_numpy(float)
    pos = frame.groupby("s")["y"].transform("sum").to_numpy(float)
    rank = frame.groupby("s")["f"].rank(method="average").to_numpy(float)
    # a converter's rank among all rows of its snapshot, less the converters at or below it (half the ties):
    # the rank among converters alone, by the same average-tie rule
    pos_rank = frame.assign(f=np.where(frame["y"] == 1, frame["f"], np.nan)).groupby("s")["f"] \
        .rank(method="average").to_numpy(float)
    is_pos = frame["y"].to_numpy() == 1
    below = np.where(is_pos, rank - pos_rank, 0.0)
    return below, np.where(is_pos, neg, 0.0) * (pos > 0)
