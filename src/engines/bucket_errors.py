"""The buckets' load errors as the one error the local loader raises over the whole tables (both engines: Spark's
load, and the local engine's within a memory budget where the loader's whole-source checks find nothing).

Each bucket stops at its first problem, in the local loader's order (tables: accounts, users, the attribute
history, events, conversions, touches; within a table the order of :func:`features.data.checks.raise_on_checks`). The whole tables' first
problem is the earliest of the buckets' first problems; every bucket with rows of that problem stopped at
it, so its count over the tables is the sum of those buckets' counts ("1,234 rows have a null account
id"), and its examples are the buckets' examples, distinct, up to as many as one message shows.
"""
from __future__ import annotations

import re

from features.data.checks import SAMPLES
from features.errors import DataError, PipelineError

from engines.bucket_kernel import BucketError
from engines.buckets import PipelineFailure  # the one error both engines re-raise a bucket's failure as

# the tables in the order the local loader reads them (features.data.validate): users and the attribute history
# before the logs
LOAD_ORDER = ("accounts", "users", "account_attributes", "events", "conversions", "touches")
# the problems of one table in the order the local loader checks them (raise_on_checks, then read_accounts)
CHECK_ORDER = ("null account id", "null event name", "null touch name", "have no timestamp", "cannot be read as",
               "quantity", "amount", "duplicate account ids")
_COUNTED = re.compile(r"^(\d[\d,]*) (.*?)(?:, e\.g\. (.*))?$")
_EXAMPLE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s][^,]*")


def _rank(error: BucketError) -> tuple[int, int]:
    table = LOAD_ORDER.index(error.table) if error.table in LOAD_ORDER else next(
        (i for i, t in enumerate(LOAD_ORDER) if error.message.startswith(f"table '{t}'")), len(LOAD_ORDER))
    problem = error.problem or ""
    return table, next((i for i, key in enumerate(CHECK_ORDER) if key in problem), len(CHECK_ORDER))


def _template(error: BucketError) -> tuple | None:
    """What identifies a counted problem apart from its count and examples (None: not a counted problem)."""
    hit = _COUNTED.match(error.problem or "")
    return (error.table, error.column, hit.group(2)) if hit else None


def merged_error(errors: list[BucketError]) -> PipelineError | None:
    """The local loader's error over all buckets (see the module docstring), or None without errors."""
    if not errors:
        return None
    first = min(errors, key=_rank)  # min keeps the first of equals: bucket order
    template = _template(first)
    if template is None:
        if first.table is not None and first.exit_code == DataError.exit_code:
            return DataError(first.table, first.column, first.problem or "")
        return PipelineFailure(first.message, first.exit_code)
    same = [e for e in errors if _template(e) == template]
    matches = [_COUNTED.match(e.problem or "") for e in same]
    count = sum(int(m.group(1).replace(",", "")) for m in matches)
    examples: list[str] = []
    for m in matches:
        examples += [x.strip() for x in _EXAMPLE.findall(m.group(3) or "") if x.strip() not in examples]
    problem = f"{count:,} {template[2]}" + (f", e.g. {', '.join(examples[:SAMPLES])}" if examples else "")
    return DataError(first.table, first.column, problem)
