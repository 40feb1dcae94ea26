"""What the families share: window columns and their wording, readable names, configured names matched.

A family's columns are worded for a sales rep (``text``, ``zero``, ``missing``: see
:class:`features.spec.Column`); names from the data go into those templates through :func:`readable`
and :func:`template_safe`, so a brace in an event name can never break a reason.
"""
from __future__ import annotations

import difflib
import logging
from typing import Iterable, Sequence

from features import naming as nm
from features.spec import Column
from features.tables import EventLog

log = logging.getLogger("pql")


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


def readable(slug: str, raw: str | None = None) -> str:
    """How a reason names an event type: its snake_case words, or its own name when the slug is a hash
    (a name in a script with no ASCII form); braces are dropped so the name is safe in a template.

    >>> readable("task_created"), readable(nm.slug("タスク作成"), "タスク作成")
    ('task created', 'タスク作成')
    """
    if raw is not None and nm.short_hash(raw) in slug:
        return " ".join(raw.split())[:60].replace("{", "(").replace("}", ")").replace("'", "’")
    return slug.replace("_", " ")


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
