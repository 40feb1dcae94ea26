"""The feature naming scheme, in one place (hand-written PQL rules refer to these names).

=================================  ==========================================================
``<event>_count_<w>d``             events of that type in ``[t - w days, t)``
``<event>_count_all``              events of that type ever before ``t``
``<event>_quantity_<w>d|all``      sum of ``quantity`` of that type (types whose quantity varies)
``events_count_<w>d|all``          all events
``active_days_<w>d``               24-hour periods (counted back from ``t``) with any event
``active_users_<w>d|all``          distinct users with any event
``event_types_<w>d``               distinct event types (breadth)
``events_trend_<n>d``              (last n days - the n before) / (sum of both), in [-1, 1]; 0 when idle
``days_since_last_event``          whole days since the last active 24-hour period (0: active in the last day)
``days_since_signup``              days from ``created_at`` to ``t``
``days_to_first_<event>``          days from signup to the first event of that type (empty if none yet)
``touch_<touch>_count_<w>d|all``   marketing touches of that type; ``touches_count_<w>d`` all of them
``<limit>_used``, ``<limit>_used_ratio``   plan-limit proximity: a cumulative count and count / limit
fit attributes                     every other ``accounts`` column, under its own name
=================================  ==========================================================

Event and touch names become snake_case: ``"Submit Upgrade"`` -> ``submit_upgrade``,
``"NextSong"`` -> ``next_song``.

>>> slug("NextSong"), slug("Submit Upgrade"), slug("3d-view")
('next_song', 'submit_upgrade', 'e_3d_view')
>>> count_name("task_created", 30), count_name("task_created", None)
('task_created_count_30d', 'task_created_count_all')
"""
from __future__ import annotations

import re
from typing import Iterable

from .windows import window_suffix


def slug(name: str) -> str:
    """snake_case identifier for an event or touch name."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not text or text[0].isdigit():
        text = f"e_{text}"
    return text


def unique_slugs(names: Iterable[str]) -> list[str]:
    """Slugs of names, made unique with a numeric suffix where two names map to the same slug."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = slug(name)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def count_name(prefix: str, days: int | None) -> str:
    return f"{prefix}_count_{window_suffix(days)}"


def quantity_name(prefix: str, days: int | None) -> str:
    return f"{prefix}_quantity_{window_suffix(days)}"


def touch_prefix(touch_slug: str) -> str:
    return f"touch_{touch_slug}"


ALL_EVENTS = "events"
ALL_TOUCHES = "touches"


def active_days(days: int) -> str:
    return f"active_days_{window_suffix(days)}"


def active_users(days: int | None) -> str:
    return f"active_users_{window_suffix(days)}"


def event_types(days: int) -> str:
    return f"event_types_{window_suffix(days)}"


def trend(days: int) -> str:
    return f"events_trend_{window_suffix(days)}"


DAYS_SINCE_LAST_EVENT = "days_since_last_event"
DAYS_SINCE_SIGNUP = "days_since_signup"


def days_to_first(event_slug: str) -> str:
    return f"days_to_first_{event_slug}"


def limit_used(name: str) -> str:
    return f"{name}_used"


def limit_ratio(name: str) -> str:
    return f"{name}_used_ratio"
