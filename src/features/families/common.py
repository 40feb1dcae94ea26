"""What the families share: window columns and their wording, readable names, configured names matched.

A family's columns are worded for a sales rep (``text``, ``zero``, ``missing``: see
:class:`features.spec.Column`); names from the data go into those templates through :func:`readable`
and :func:`template_safe`, so a brace in an event name can never break a reason. Names read as the data
spells them (``'W_Completeren aanvraag complete'``), or as ``features.labels`` names them.
"""
from __future__ import annotations

import difflib
import logging
from typing import Iterable, Mapping, Sequence

from features import naming as nm
from features.spec import Column
from features.tables import EventLog

log = logging.getLogger("pql")
MAX_NAME = 60  # characters of a name in a reason: a longer one is cut with an ellipsis


def when(days: int | None) -> str:
    """How a reason names a window: ``"in the last 30 days"``, ``"since signup"`` for all history."""
    return "since signup" if days is None else f"in the last {days} days"


def window_columns(prefix: str, group: str, windows: Iterable[int | None], text: str, zero: str,
                   kind: str = "count") -> list[Column]:
    """One column per window; ``text`` and ``zero`` are templates with ``{when}`` ("in the last 30
    days"; "since signup" for all history, whose zero wording says "ever"/"yet" instead).

    >>> [c.name for c in window_columns("task", "usage", [7, None], "'task' {{value}} time{{s}} {when}",
    ...                                 "no 'task' {when}")]
    ['task_count_7d', 'task_count_all']
    >>> window_columns("task", "usage", [None], "'task' {{value}} time{{s}} {when}", "no 'task' {when}")[0].zero
    "no 'task' ever"
    """
    out = []
    for days in windows:
        name = nm.count_name(prefix, days) if kind == "count" else nm.quantity_name(prefix, days)
        out.append(Column(name, kind, group, text.format(when=when(days)),
                          zero=zero.format(when="ever" if days is None else when(days))))
    return out


def readable(name: str, labels: Mapping[str, str] | None = None) -> str:
    """How a reason names an event or touch type, a limit or a column: its label (``features.labels``) or the
    name in the data's own casing (:func:`features.naming.display_name`), at most 60 characters; braces and
    quotes are replaced so the name is safe inside a quoted template.

    >>> readable("Task Created"), readable("task_created"), readable("タスク作成"), readable("it's {x}")
    ('Task Created', 'task created', 'タスク作成', 'it’s (x)')
    >>> readable("W_Completeren aanvraag start", {"w_completeren_aanvraag_start": "application form started"})
    'application form started'
    """
    text = nm.display_name(name, labels)
    if len(text) > MAX_NAME:
        text = text[:MAX_NAME - 1].rstrip() + "…"
    return text.replace("{", "(").replace("}", ")").replace("'", "’")


def warn_unknown_labels(labels: Mapping[str, str], names: Iterable[str]) -> None:
    """Note the ``features.labels`` keys that name no column, event or touch type of the data (a typo)."""
    unknown = nm.unknown_labels(labels, names)
    if unknown:
        log.warning("features.labels: %s %s no accounts column, event or touch type, or plan limit of this data",
                    unknown, "names" if len(unknown) == 1 else "name")


def template_safe(text: str) -> str:
    """Text from the data, safe inside a ``str.format`` template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def resolve(wanted: str, seen: Sequence[str], what: str) -> str:
    """A configured event name (raw or snake_case) matched against the names seen in reachable rows.

    A name not seen yet is kept as configured (its columns stay empty until it occurs) and noted:
    erroring would make the columns depend on rows after the as-of.
    """
    by_slug = {nm.slug(n): n for n in seen}
    if wanted in seen:
        return wanted
    if nm.slug(wanted) in by_slug:
        return by_slug[nm.slug(wanted)]
    close = difflib.get_close_matches(nm.slug(wanted), list(by_slug), n=3)
    hint = f"; close names: {close}" if close else ""
    log.warning("%s: event type '%s' does not occur before the as-of%s", what, wanted, hint)
    return wanted


def code_of(log_: EventLog, name: str) -> int | None:
    """The code of a spec event name in a log: exact, else by snake_case name (None: never occurs).

    >>> code_of(EventLog.empty(("Task Created", "task_created")), "task created")
    0
    """
    code = log_.code(name)
    if code is None:
        matches = [i for i, n in enumerate(log_.names) if nm.slug(n) == nm.slug(name)]
        code = matches[0] if matches else None
    return code
