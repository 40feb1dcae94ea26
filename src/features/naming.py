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

Event and touch names become snake_case ASCII identifiers (so hand-written rules can name them):
``"Submit Upgrade"`` -> ``submit_upgrade``, ``"NextSong"`` -> ``next_song``, accents are dropped
(``"Créer"`` -> ``creer``). Letters with no ASCII form keep the name apart with a stable 8-hex
hash of the raw name (``"タスク作成"`` -> ``ev_<hash>``, ``"Отчет PDF"`` -> ``pdf_<hash>``); a name
starting with a digit gets ``e_``; slugs longer than 60 characters are cut, with the hash as suffix.
Names are unique by construction: an event slug never equals a total's prefix (``events``,
``touches``) nor starts with ``touch_`` (both get ``e_``), so event, touch and total columns cannot
meet; two names with one slug are told apart by ``_2``, ``_3``, ... (never a slug another name has).

>>> slug("NextSong"), slug("Submit Upgrade"), slug("3d-view"), slug("Créer un projet")
('next_song', 'submit_upgrade', 'e_3d_view', 'creer_un_projet')
>>> slug("events"), slug("touch_demo"), slug("e_events")   # reserved: totals and touch columns
('e_events', 'e_touch_demo', 'e_events')
>>> slug("タスク作成"), slug("Создать задачу"), slug("Отчет PDF")
('ev_c96baf98', 'ev_6d25d626', 'pdf_d7bfffc2')
>>> unique_slugs(["Task Created", "task_created_2", "task created"])
['task_created', 'task_created_2', 'task_created_3']
>>> len(slug("x" * 200)), slug("x" * 200)[-9:]
(60, '_d31851a3')
>>> count_name("task_created", 30), count_name("task_created", None)
('task_created_count_30d', 'task_created_count_all')

People read names as the data spells them, or by the label ``features.labels`` gives (:func:`display_name`):

>>> display_name("W_Completeren aanvraag complete"), display_name("landing_page_id")
('W_Completeren aanvraag complete', 'landing page id')
>>> display_name("W_Completeren aanvraag start", {"w_completeren_aanvraag_start": "application form started"})
'application form started'
>>> window_family("task_created_count_30d"), window_family("active_users_all"), window_family("industry")
(('task_created_count', 30), ('active_users', None), None)
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Iterable, Mapping

from features.windows import window_suffix

MAX_SLUG = 60
ALL_EVENTS = "events"
ALL_TOUCHES = "touches"
_RESERVED = {ALL_EVENTS, ALL_TOUCHES}  # prefixes of the totals' columns
_RESERVED_PREFIX = "touch_"  # touch columns are touch_<touch>_count_...
# Latin letters that NFKD does not decompose into an ASCII letter and a mark
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
                       "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i"})


def short_hash(name: object) -> str:
    """8 hex digits of a name, the same on every run and machine (not Python's salted ``hash``)."""
    return hashlib.blake2s(str(name).encode("utf-8"), digest_size=4).hexdigest()


def slug(name: object) -> str:
    """snake_case ASCII identifier for an event or touch name (see the module doc); idempotent."""
    raw = str(name)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", raw.strip().translate(_FOLD))
                   if not unicodedata.combining(ch))
    lost = any(ch.isalnum() and not ch.isascii() for ch in text)  # letters or digits with no ASCII form
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if lost or not text:
        text = f"{text}_{short_hash(raw)}" if text else f"ev_{short_hash(raw)}"
    if text[0].isdigit() or text in _RESERVED or text.startswith(_RESERVED_PREFIX):
        text = f"e_{text}"
    if len(text) > MAX_SLUG:
        text = f"{text[:MAX_SLUG - 9].rstrip('_')}_{short_hash(raw)}"
    return text


def unique_slugs(names: Iterable[str]) -> list[str]:
    """Slugs of names, in order; where names share a slug, the first keeps it and the others get
    ``_2``, ``_3``, ... skipping any slug another name has, so every result is distinct (and the
    same for the same names in the same order)."""
    return list(_unique_slugs(tuple(names)))


@lru_cache(maxsize=256)
def _unique_slugs(names: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`unique_slugs`, computed once per tuple of names: every snapshot asks again (hundreds with first looks)."""
    bases = [slug(n) for n in names]
    reserved, taken, out = set(bases), set(), []
    for base in bases:
        candidate, k = base, 1
        while candidate in taken or (k > 1 and candidate in reserved):
            k += 1
            suffix = f"_{k}"
            candidate = f"{base[:MAX_SLUG - len(suffix)]}{suffix}"
        taken.add(candidate)
        out.append(candidate)
    return tuple(out)


def display_name(name: object, labels: Mapping[str, str] | None = None) -> str:
    """How people read a column or an event type: its label in ``labels`` (``features.labels``, matched by the
    name or by its snake_case form), else the name as the data spells it -- a lower-case snake_case name with
    spaces for underscores (``landing_page_id`` -> ``landing page id``), any other in its own casing
    (``W_Completeren aanvraag complete``), runs of whitespace made one space."""
    raw = " ".join(str(name).split())
    if labels:
        if raw in labels:
            return str(labels[raw])
        key = slug(raw)
        for wanted, label in labels.items():
            if slug(wanted) == key:
                return str(label)
    if " " not in raw and raw == raw.lower():
        return raw.replace("_", " ").strip() or raw
    return raw


def unknown_labels(labels: Mapping[str, str], names: Iterable[object]) -> list[str]:
    """The keys of ``labels`` that name none of ``names`` (neither as written nor in snake_case)."""
    known = {str(n) for n in names} | {slug(n) for n in names}
    return [k for k in labels if k not in known and slug(k) not in known]


_WINDOW_COLUMN = re.compile(r"^(.+_(?:count|quantity)|active_days|active_users|event_types)_(\d+d|all)$")


def window_family(name: str) -> tuple[str, int | None] | None:
    """A window column's family and window (None: all history), e.g. ``('task_created_count', 30)``: columns
    of one family count the same thing over windows; None for a column that is not a window column."""
    match = _WINDOW_COLUMN.match(name)
    if match is None:
        return None
    window = match.group(2)
    return match.group(1), None if window == "all" else int(window[:-1])


def count_name(prefix: str, days: int | None) -> str:
    """Events (or touches) with this prefix in a window: ``<prefix>_count_<w>d|all``."""
    return f"{prefix}_count_{window_suffix(days)}"


def quantity_name(prefix: str, days: int | None) -> str:
    """Summed quantity of an event type in a window: ``<prefix>_quantity_<w>d|all``."""
    return f"{prefix}_quantity_{window_suffix(days)}"


def touch_prefix(touch_slug: str) -> str:
    """The prefix of a touch type's columns: ``touch_<touch>``."""
    return f"touch_{touch_slug}"


def active_days(days: int) -> str:
    """Active 24-hour periods in a window: ``active_days_<w>d``."""
    return f"active_days_{window_suffix(days)}"


def active_users(days: int | None) -> str:
    """Distinct active users in a window: ``active_users_<w>d|all``."""
    return f"active_users_{window_suffix(days)}"


def event_types(days: int) -> str:
    """Distinct event types in a window (breadth): ``event_types_<w>d``."""
    return f"event_types_{window_suffix(days)}"


def trend(days: int) -> str:
    """The activity trend over two periods of ``days``: ``events_trend_<n>d``."""
    return f"events_trend_{window_suffix(days)}"


DAYS_SINCE_LAST_EVENT = "days_since_last_event"
DAYS_SINCE_SIGNUP = "days_since_signup"


def days_to_first(event_slug: str) -> str:
    """Days from signup to the first event of a type: ``days_to_first_<event>``."""
    return f"days_to_first_{event_slug}"


def limit_used(name: str) -> str:
    """What is used of a plan limit: ``<limit>_used``."""
    return f"{name}_used"


def limit_ratio(name: str) -> str:
    """The used share of a plan limit: ``<limit>_used_ratio``."""
    return f"{name}_used_ratio"
