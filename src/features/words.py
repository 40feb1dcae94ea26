"""Numbers, durations and multiples as people write them: one place for every reason, rule and report line.

>>> [number(v) for v in (3, 13.0, 15000, 15234.57, 123456, 1234567, 0.35, 12.34, 2.5e9, -4200.0)]
['3', '13', '15,000', '15,235', '123k', '1.2M', '0.35', '12.3', '2.5B', '-4,200']
>>> [duration(d) for d in (1, 3, 12.2, 20, 45, 400, 1000)]
['1 day', '3 days', '12 days', '20 days', '6 weeks', '13 months', '2.7 years']
>>> plural(1, "week"), plural(2, "week"), plural(1_500, "time")
('1 week', '2 weeks', '1,500 times')
>>> multiple(2.96), multiple(1.54), multiple(12.4)
('3x', '1.5x', '12x')
"""
from __future__ import annotations

import math

_COMPACT = ((1e9, "B"), (1e6, "M"), (1e3, "k"))
_COMPACT_FROM = 1e5  # from here on a number reads as 120k, 1.2M (below: 15,000 or 15,235)


def _trim(text: str) -> str:
    """``1.0`` -> ``1``, ``2.50`` -> ``2.5`` (a fixed-point number without trailing zeros)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _compact(v: float) -> str:
    """1.2k, 15.2k, 120k, 1.2M, 2.5B: at most three significant digits and a letter."""
    for size, letter in _COMPACT:
        if abs(v) >= size * 0.9995:
            scaled = v / size
            digits = 1 if abs(scaled) < 100 else 0
            return f"{_trim(f'{scaled:.{digits}f}')}{letter}"
    return _trim(f"{v:.1f}")


def number(value: float) -> str:
    """A number as people write it: thousands separators below 100,000 (``15,000``, ``15,235`` for 15,234.57),
    then three significant digits and a letter (``120k``, ``1.2M``, ``2.5B``); a small fraction to one decimal or
    two significant digits (``12.3``, ``0.35``); never scientific notation."""
    v = float(value)
    if math.isnan(v):
        return "unknown"
    if math.isinf(v):
        return "infinite" if v > 0 else "minus infinite"
    if abs(v) >= _COMPACT_FROM:
        return _compact(v)
    if v.is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return _trim(f"{v:.1f}")
    return _trim(f"{v:.2g}") if "e" not in f"{v:.2g}" else _trim(f"{v:.6f}")


def plural(count: float, word: str, words: str | None = None) -> str:
    """``1 week``, ``2 weeks``, ``1,500 times``: the count as :func:`number` writes it and the word that fits it."""
    shown = number(count)
    return f"{shown} {word if shown in ('1', '-1') else (words or word + 's')}"


def duration(days: float) -> str:
    """A span of days as people say it: days up to three weeks, then weeks up to two months, months up to two
    years, then years (``3 days``, ``6 weeks``, ``13 months``, ``2.7 years``); under a day is ``less than a day``."""
    d = float(days)
    if d < 1:
        return "less than a day"
    if d < 21:
        return plural(math.floor(d), "day")
    if d < 60:
        return plural(round(d / 7), "week")
    if d < 730:
        return plural(round(d / 30.44), "month")
    return plural(round(d / 365.25, 1), "year")


def multiple(ratio: float) -> str:
    """How many times as much: ``1.5x``, ``3x``, ``12x`` (one decimal below 10 when it is not whole)."""
    r = float(ratio)
    return f"{_trim(f'{r:.1f}')}x" if r < 10 else f"{r:.0f}x"
