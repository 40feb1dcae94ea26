"""SQL text built safely from names and values the user gave: identifiers, literals, file paths, and the
one-line forms of names and errors that messages show.

>>> print(quote('my "col" x'), literal("it's"))
"my ""col"" x" 'it''s'
>>> identifier("pql_scores", "scores_table")
'pql_scores'
>>> path_literal("exports[ab]/*.csv")
"'exports[[]ab[]]/[*].csv'"
"""
from __future__ import annotations

import os
import re

from features.errors import ConfigError

_GLOB = re.compile(r"([\[\]*?{}])")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # 63: PostgreSQL's longest name


def quote(name: object) -> str:
    """A SQL identifier, safely quoted (any embedded double quote doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def identifier(name: object, key: str) -> str:
    """A table name from config, checked to be a plain SQL identifier (letters, digits and ``_``, not
    starting with a digit, at most 63 characters); anything else is a ConfigError naming ``key``. Quote it
    with :func:`quote` all the same: a checked name is never spliced into SQL as it is."""
    text = str(name)
    if not _IDENTIFIER.fullmatch(text):
        raise ConfigError(f"{key}: {shown(text)[:80]!r} is not a table name: use letters, digits and _ "
                          f"(not starting with a digit, at most 63 characters)")
    return text


def literal(value: object) -> str:
    """A SQL string literal, safely quoted (any embedded single quote doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def path_literal(path: str | os.PathLike) -> str:
    """A file path as a SQL literal that DuckDB reads as exactly that file.

    DuckDB expands ``* ? [ ] { }`` in file names; each such character becomes a one-character class
    (``[[]``), which matches only itself, so a folder named ``exports[ab]`` never reads ``exportsa``.
    """
    return literal(_GLOB.sub(r"[\1]", str(path)))


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (DuckDB's run to dozens of lines)."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def shown(name: object) -> str:
    """A name for a one-line message: control characters (newlines, ...) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))


_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")  # scheme://user:PASSWORD@host


def hide_passwords(text: str) -> str:
    """``text`` with the password of every URL in it masked, for messages and files a run writes.

    >>> hide_passwords("output=postgresql://pql:s3cret@db:5432/crm, tracking.uri=sqlite:///mlflow.db")
    'output=postgresql://pql:***@db:5432/crm, tracking.uri=sqlite:///mlflow.db'
    """
    return _PASSWORD.sub(r"\1***@", str(text))
