"""The scores table's schema, and how a database table that holds it follows the model from day to day.

Each column of the scores has a *kind* fixed by its name (``account_id`` text, ``as_of`` timestamp, the
scores double, ``pql_tier`` integer, tiers, reasons and the model version text, ``rule_<name>`` boolean), never
inferred from the values: a night with no eligible account (every model column ``float64``) types the table
as a normal night does. :func:`evolve` compares today's columns with a table's: a new column is added, a
column gone from the model stays (NULL in new rows), and a column of another type is retyped when that
loses nothing, or else refused in one line naming the table and the column.

>>> kinds({"account_id": "str", "pql_tier": "float64", "rule_trial": "float64", "uplift": "float64"})
{'account_id': 'text', 'pql_tier': 'integer', 'rule_trial': 'boolean', 'uplift': 'double'}
>>> stored_kind("TIMESTAMP WITHOUT TIME ZONE"), stored_kind("character varying(40)"), stored_kind("")
('timestamp', 'text', 'any')
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import pandas as pd

from features.data.sql import identifier, shown
from features.errors import ConfigError, PipelineError

log = logging.getLogger("pql")

TEXT, TIMESTAMP, DOUBLE, INTEGER, BOOLEAN = "text", "timestamp", "double", "integer", "boolean"
SCHEMA = {  # the scores table of the contract, by column name (serve.batch.score_accounts writes it)
    "account_id": TEXT, "as_of": TIMESTAMP, "score": DOUBLE, "intent_score": DOUBLE, "fit_score": DOUBLE,
    "expected_value": DOUBLE, "intent_tier": TEXT, "fit_tier": TEXT, "pql_tier": INTEGER, "reasons": TEXT,
    "contacts": TEXT,
    "model_version": TEXT, "learned": BOOLEAN,
}
RULE_PREFIX = "rule_"  # one boolean flag per hand-defined rule
PANDAS_DTYPES = {TEXT: "str", TIMESTAMP: "datetime64[us]", DOUBLE: "float64", INTEGER: "Int64", BOOLEAN: "boolean"}
POSTGRES_NAME_BYTES = 63  # PostgreSQL cuts longer identifiers short (NAMEDATALEN - 1)

# What each database calls a kind, as the start of its type's name (upper case); anything else is its own kind.
_STORED = (
    ("timestamptz", ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")),
    (TIMESTAMP, ("TIMESTAMP", "DATETIME")),
    (TEXT, ("VARCHAR", "TEXT", "CHAR", "STRING", "NVARCHAR", "NCHAR", "CLOB", "CHARACTER")),
    (BOOLEAN, ("BOOL",)),
    (DOUBLE, ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")),
    (INTEGER, ("BIGINT", "INT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")),
)


class OutputTableError(PipelineError):
    """The output table cannot take today's scores (a column of another type holding values): exit 4, like an
    output database that cannot be reached -- nothing is written and the table is left as it was."""

    exit_code = 4


def kind_of(name: str, dtype) -> str:
    """The kind of scores column ``name``: the schema's, a rule flag's, or (a column the schema does not know)
    its dtype's."""
    if name in SCHEMA:
        return SCHEMA[name]
    if name.startswith(RULE_PREFIX):
        return BOOLEAN
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_integer_dtype(dtype):
        return INTEGER
    if pd.api.types.is_float_dtype(dtype):
        return DOUBLE
    return TIMESTAMP if pd.api.types.is_datetime64_any_dtype(dtype) else TEXT


def kinds(dtypes: Mapping[str, object]) -> dict[str, str]:
    """Column -> kind for the columns of a scores table (``frame.dtypes``), in their order."""
    return {str(name): kind_of(str(name), dtype) for name, dtype in dict(dtypes).items()}


def conform(scores: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``scores`` whose columns have their kind's dtype (text as ``str``, timestamps naive UTC,
    integers and flags nullable), so every database receives the types of the schema."""
    out = {}
    for name, kind in kinds(scores.dtypes).items():
        column = scores[name]
        if kind == TIMESTAMP and isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        out[name] = column.astype(PANDAS_DTYPES[kind])
    return pd.DataFrame(out, index=scores.index)


def stored_kind(sql_type: str) -> str:
    """The kind of a column a database declares as ``sql_type`` (``any``: SQLite's untyped column)."""
    text = " ".join(str(sql_type).upper().split())
    if not text:
        return "any"
    for kind, starts in _STORED:
        if text.startswith(starts):
            return kind
    return text.lower()


def check_names(table: str, columns: Iterable[str], dialect: str) -> None:
    """Refuse names no database keeps as given (ConfigError): a table name that is not a plain identifier
    (the rule ``serve.realized`` reads it by, :func:`features.data.sql.identifier`), a column name that is
    empty, holds a control character, or on PostgreSQL is longer than 63 bytes (it would be cut short)."""
    identifier(table, "output_table")
    for name in map(str, columns):
        size = len(name.encode("utf-8"))
        if not name.strip() or any(not c.isprintable() for c in name):
            raise ConfigError(f"column '{shown(name)}': the name is empty or holds a control character")
        if dialect == "postgresql" and size > POSTGRES_NAME_BYTES:
            raise ConfigError(f"column '{shown(name)}' is {size} bytes; PostgreSQL keeps {POSTGRES_NAME_BYTES} "
                              f"and would cut it short")


@dataclass
class Evolution:
    """What a table needs before today's rows go in: columns to add and columns to retype (name as stored ->
    kind), and those of the retyped that hold values (only on SQLite, where the table is rebuilt with them)."""

    table: str
    add: dict[str, str] = field(default_factory=dict)
    retype: dict[str, str] = field(default_factory=dict)
    was: dict[str, str] = field(default_factory=dict)  # the retyped columns' declared types
    with_values: set[str] = field(default_factory=set)


def evolve(table: str, wanted: Mapping[str, str], stored: Mapping[str, str], holds_values: Callable[[str], bool],
           dialect: str) -> Evolution:
    """How table ``table`` (``stored``: column -> declared type) must change to take columns ``wanted`` (column
    -> kind). A column of another kind is retyped when it holds no value (``holds_values(name)`` is false: the
    table an old version made on an empty night), or on SQLite when it was declared a float (SQLite kept each
    value as it came); a whole number in a float column is kept; anything else is an :class:`OutputTableError`.
    DuckDB and SQLite match names whatever their case, PostgreSQL exactly."""
    fold = (lambda name: name) if dialect == "postgresql" else str.casefold
    by_name = {fold(name): name for name in stored}
    plan = Evolution(table)
    for column, kind in wanted.items():
        name = by_name.get(fold(column))
        if name is None:
            plan.add[column] = kind
            continue
        have = stored_kind(stored[name])
        if have in (kind, "any"):
            continue
        full = holds_values(name)
        if not full or (dialect == "sqlite" and have == DOUBLE):
            plan.retype[name], plan.was[name] = kind, stored[name]
            if full:
                plan.with_values.add(name)
        elif not (kind == INTEGER and have == DOUBLE):
            raise OutputTableError(
                f"output: table '{shown(table)}', column '{shown(name)}' is {stored[name]} and holds values; "
                f"the scores need {kind} there: rename or drop that table (or the column), or give another "
                f"output_table")
    return plan


def log_evolution(plan: Evolution) -> None:
    """Say what changed in the table, once it is committed (the docs promise a log line for each)."""
    if plan.add:
        added = ", ".join(f"{shown(c)} ({k})" for c, k in plan.add.items())
        log.info("output: table %s: added column %s; rows written before have NULL there", shown(plan.table), added)
    for name, kind in plan.retype.items():
        why = "SQLite kept its values as they came" if name in plan.with_values else "it held no value"
        log.info("output: table %s: column %s was %s (as an earlier version typed it on an empty night), now %s: %s",
                 shown(plan.table), shown(name), plan.was[name], kind, why)
