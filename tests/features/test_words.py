"""Numbers, durations and multiples as people write them (features.words): never scientific notation,
never "0 days", plurals that fit."""
from __future__ import annotations

import numpy as np
import pytest

from features.words import duration, multiple, number, plural


@pytest.mark.parametrize("value, shown", [
    (0, "0"), (1, "1"), (13.0, "13"), (999.6, "1,000"), (15000, "15,000"), (1.5e4, "15,000"), (15234.57, "15,235"),
    (99_999, "99,999"), (123_456, "123k"), (1_234_567, "1.2M"), (2.5e9, "2.5B"), (0.35, "0.35"), (0.0012, "0.0012"),
    (12.34, "12.3"), (-4200.0, "-4,200"), (np.nan, "unknown")])
def test_numbers_read_as_people_write_them(value, shown):
    assert number(value) == shown


def test_no_number_is_ever_in_scientific_notation():
    for v in np.r_[np.logspace(-7, 13, 300), -np.logspace(-7, 13, 300)]:
        assert "e" not in number(v), v


@pytest.mark.parametrize("days, said", [
    (0.3, "less than a day"), (1, "1 day"), (1.9, "1 day"), (3, "3 days"), (20.5, "20 days"), (21, "3 weeks"),
    (45, "6 weeks"), (60, "2 months"), (400, "13 months"), (730, "2 years"), (1000, "2.7 years")])
def test_durations_read_in_days_weeks_months_or_years(days, said):
    assert duration(days) == said


def test_plurals_fit_the_count():
    assert [plural(n, "week") for n in (1, 1.0, 2, 0)] == ["1 week", "1 week", "2 weeks", "0 weeks"]
    assert plural(3, "activity", "activities") == "3 activities"


def test_multiples():
    assert [multiple(r) for r in (1.5, 2.04, 2.96, 12.4)] == ["1.5x", "2x", "3x", "12x"]
