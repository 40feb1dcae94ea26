"""The checks of a canonical table that stop the run: a null key, a missing or unparseable timestamp, a
value that is not a number, a table none of whose rows belongs to a known account.

Each problem is one line (a :class:`~features.errors.DataError` naming table, column, count and a few
example values); counts come from one scan of the table's ``canon_<table>`` view.
"""
from __future__ import annotations

from features.config import TIME_COLUMN, DataConfig
from features.data.mapping import format_of
from features.data.sources import Source
from features.errors import DataError

SAMPLES = 3  # example values a message shows


def examples(source: Source, table: str, condition: str, column: str) -> str:
    """A few distinct values of ``column`` in the rows of ``canon_<table>`` where ``condition`` holds, as text
    for a message (``'a', 'b'``)."""
    rows = source.con.execute(
        f"SELECT DISTINCT CAST({column} AS VARCHAR) FROM canon_{table} WHERE {condition} LIMIT {SAMPLES}").fetchall()
    return ", ".join(repr(r[0]) for r in rows)


def columns_of(source: Source, table: str) -> set[str]:
    """The column names of ``canon_<table>``."""
    return {r[0] for r in source.con.execute(f"DESCRIBE canon_{table}").fetchall()}


def check_columns(source: Source, table: str, config: DataConfig, has: set[str]) -> tuple[int, list[tuple[str, int]]]:
    """Count the rows of a canonical table; raise on null keys, bad timestamps, bad numbers.

    Returns the row count and, for events and touches, the rows per event (touch) name, most frequent
    first (ties by name): one scan of the table serves both.
    """
    key = "event" if table == "events" else "touch" if table == "touches" else None
    checks = column_checks(table, has)
    if key:
        groups = source.con.execute(f"SELECT {key}, {', '.join(checks.values())} FROM canon_{table} "
                                    f"GROUP BY {key}").fetchall()
        got = {name: sum(int(g[i + 1]) for g in groups) for i, name in enumerate(checks)}
        # DuckDB orders text by its UTF-8 bytes, Python by code points: the same order
        names = sorted(((str(g[0]), int(g[1])) for g in groups if g[0] is not None), key=lambda x: (-x[1], x[0]))
    else:
        values = source.con.execute(f"SELECT {', '.join(checks.values())} FROM canon_{table}").fetchall()[0]
        got, names = dict(zip(checks, values)), []
    raise_on_checks(source, table, config, got)
    return int(got["rows"]), names


def column_checks(table: str, has: set[str]) -> dict[str, str]:
    """The counts behind the one-line errors of a canonical table (read by :func:`raise_on_checks`)."""
    time_col = TIME_COLUMN[table]
    key = "event" if table == "events" else "touch" if table == "touches" else None
    checks = {
        "rows": "count(*)",
        "null_id": "count(*) FILTER (WHERE account_id IS NULL)",
        "null_time": f"count(*) FILTER (WHERE {time_col}__raw IS NULL)",
        "bad_time": f"count(*) FILTER (WHERE {time_col}__raw IS NOT NULL AND {time_col} IS NULL)",
    }
    if key:
        checks["null_key"] = f"count(*) FILTER (WHERE {key} IS NULL)"
    for num in ("quantity", "amount"):
        if num in has:
            checks[f"bad_{num}"] = f"count(*) FILTER (WHERE {num}__raw IS NOT NULL AND {num} IS NULL)"
    return checks


def raise_on_checks(source: Source, table: str, config: DataConfig, got: dict[str, int]) -> None:
    """The first problem among the counts of :func:`check_columns` as a DataError (examples read from
    the canonical view)."""
    time_col = TIME_COLUMN[table]
    key = "event" if table == "events" else "touch" if table == "touches" else None
    src = lambda name: config.column(table, name) or name  # noqa: E731 - the user's column name
    if got["null_id"]:
        raise DataError(table, src("account_id"), f"{got['null_id']:,} rows have a null account id (a key)")
    if got.get("null_key"):
        raise DataError(table, src(key), f"{got['null_key']:,} rows have a null {key} name (a key)")
    if got["null_time"]:
        raise DataError(table, src(time_col), f"{got['null_time']:,} rows have no timestamp")
    if got["bad_time"]:
        ex = examples(source, table, f"{time_col}__raw IS NOT NULL AND {time_col} IS NULL", f"{time_col}__raw")
        unit, fmt = config.unit(table), format_of(config, table)
        how = (f"epoch {unit}" if unit else f"timestamps of format {fmt!r} (data.columns.{table}.{time_col}_format)"
               if fmt else "ISO-8601 timestamps")
        raise DataError(table, src(time_col), f"{got['bad_time']:,} values cannot be read as {how}, e.g. {ex}")
    for num in ("quantity", "amount"):
        if got.get(f"bad_{num}"):
            ex = examples(source, table, f"{num}__raw IS NOT NULL AND {num} IS NULL", f"{num}__raw")
            raise DataError(table, src(num), f"{got[f'bad_{num}']:,} values are not numbers, e.g. {ex}")


def not_all_unknown(table: str, config: DataConfig, n: int, unknown: int) -> None:
    """A table none of whose rows belongs to a known account is an error (as an empty table is): it is
    almost always a key that does not match (another column, another id format), not data to ignore."""
    if n and unknown == n:
        raise DataError(table, config.column(table, "account_id"),
                        f"none of its {n:,} rows has an account id that is in accounts (all would be set aside "
                        f"as unknown accounts): check the account id column, its format and its mapping "
                        f"(data.columns.{table}.account_id)")
