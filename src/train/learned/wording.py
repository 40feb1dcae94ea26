"""A learned condition in the words of the people who act on it: "signed up in the last 50 days", "active today",
"'watch' at least 10 times in the last 7 days", "country: any but DE, FR or US". Worded by the feature's column
(its text already names events and attributes by ``features.labels``), numbers as :mod:`features.words` writes them.

>>> from features.spec import Column
>>> signup = Column("days_since_signup", "days", "usage", "signed up {value} day{s} ago")
>>> condition_words("days_since_signup", "<=", 50.0, signup), condition_words("days_since_signup", ">=", 1.0, signup)
('signed up in the last 50 days', 'signed up at least 1 day ago')
>>> last = Column("days_since_last_event", "days", "usage", "last active {value} day{s} ago")
>>> [condition_words("days_since_last_event", op, v, last) for op, v in (("<=", 0.0), ("<=", 6.0), (">=", 14.0))]
['active today', 'active in the last 7 days', 'last active 14 or more days ago']
>>> country = Column("country", "category", "fit", "country: {value}", ("DE", "FR", "US"))
>>> condition_words("country", "not in", ("DE", "FR", "US"), country)
'country: any but DE, FR or US'
>>> condition_words("seats_total", ">=", 15000.0, None, {"seats_total": "seats bought"})
'seats bought: at least 15,000'
>>> watched = Column("watch_quantity_7d", "quantity", "usage", "total quantity of 'minutes' in the last 7 days: {value}")
>>> condition_words("watch_quantity_7d", ">=", 10.0, watched, {"watch": "minutes"})
'at least 10 minutes in the last 7 days'
>>> condition_words("watch_quantity_7d", ">=", 10.0, watched)
"a total 'minutes' quantity of at least 10 in the last 7 days"
"""
from __future__ import annotations

import math
import re
from typing import Mapping

from features import naming as nm
from features.spec import Column
from features.words import number, plural

from train.explain import format_value

_AFTER_SIGNUP = "{value} day{s} after signup"  # the days_to_first_<event> template's tail (features.families.key_events)
_QUANTITY = re.compile(r"^total quantity of '(.+)' (in the last \d+ days|since signup): \{value\}$")  # families.usage


def listed(values: tuple[str, ...]) -> str:
    """``a``, ``a or b``, ``a, b or c``: values as a sentence lists them."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def condition_words(feature: str, op: str, value: float | tuple[str, ...], column: Column | None,
                    labels: Mapping[str, str] | None = None) -> str:
    """``feature op value`` in plain English, worded by its column (by its display name without one)."""
    if column is None:
        shown = listed(tuple(value)) if isinstance(value, tuple) else number(value)
        bound = {">=": "at least ", "<=": "at most ", "in": "", "not in": "any but "}[op]
        return f"{nm.display_name(feature, labels)}: {bound}{shown}"
    if op in ("in", "not in"):
        return column.text.format(value=("any but " if op == "not in" else "") + listed(tuple(value)), s="s")
    if column.kind == "days":
        days = _days_words(column, op, float(value))
        if days is not None:
            return days
    shown = format_value(column, value)
    bound = "at least" if op == ">=" else "at most"
    quantity = _QUANTITY.match(column.text) if column.kind == "quantity" else None
    if quantity is not None:
        # a labelled quantity names its unit ("minutes watched"): "at least 10 minutes watched in the last 7 days"
        name, when = quantity.groups()
        if name in (labels or {}).values():
            return f"{bound} {shown} {name} {when}"
        return f"a total '{name}' quantity of {bound} {shown} {when}"
    return column.text.format(value=f"{bound} {shown}", s="" if shown.lstrip("+-") == "1" else "s")


def _days_words(column: Column, op: str, value: float) -> str | None:
    """Recency and time-to-first-event thresholds as a person says them (None: the generic wording)."""
    if column.name == nm.DAYS_SINCE_LAST_EVENT:
        # whole 24-hour periods since the last active one: <= 6 is "active in one of the last 7 periods"
        if op == "<=":
            periods = math.floor(value) + 1
            return "active today" if periods <= 1 else f"active in the last {plural(periods, 'day')}"
        return f"last active {number(math.ceil(value))} or more days ago"
    if column.name == nm.DAYS_SINCE_SIGNUP:
        if op == "<=":
            return "signed up today" if value < 1 else f"signed up in the last {plural(value, 'day')}"
        return f"signed up at least {plural(value, 'day')} ago"
    if column.text.endswith(_AFTER_SIGNUP):
        head = column.text[: -len(_AFTER_SIGNUP)]
        if op == "<=":
            return f"{head}{'on the day of signup' if value < 1 else 'within ' + plural(value, 'day') + ' of signup'}"
        return f"{head}{plural(value, 'day')} or more after signup"
    return None
