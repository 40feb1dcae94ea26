"""How a rule names a feature: a plain identifier as is, any other column name in backticks (as pandas'
``query`` writes it), and the rule language's error."""
from __future__ import annotations

import keyword
import re

from features.errors import ConfigError

BOOLS = {"true": True, "false": False, "True": True, "False": False}  # reserved: never feature names


class RuleError(ConfigError, ValueError):
    """Invalid rule definition or expression; the message always names the rule.

    A ConfigError, so the commands report it in one line and exit 2; still a ValueError for callers.
    """


_QUOTED = re.compile(r"`([^`]*)`")


def quote(name: str) -> str:
    """A feature name as a rule writes it: as is when it is a plain identifier, else in backticks.

    >>> quote("seats_used"), quote("Employees (count, self-reported)")
    ('seats_used', '`Employees (count, self-reported)`')
    """
    if name.isidentifier() and not keyword.iskeyword(name) and name not in BOOLS:
        return name
    if "`" in name or not name:
        raise RuleError(f"feature {name!r}: a rule cannot name it (it holds a backtick); rename the column")
    return f"`{name}`"


def unquote(expression: str) -> tuple[str, dict[str, str]]:
    """The expression with each backticked name replaced by a placeholder identifier of the same length (so
    error columns stay right), and placeholder -> name."""
    names: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        if not match.group(1):
            raise RuleError(f"empty backticks in {expression!r}")
        tag = f"q{len(names)}"
        key = "_" * max(1, len(match.group(0)) - len(tag)) + tag
        while key in expression or key in names:
            key = "_" + key
        names[key] = match.group(1)
        return key

    return _QUOTED.sub(placeholder, expression), names
