"""The accounts and their keys: the accounts table read and sorted by id, and ``account_keys`` (each
account's id and row number) that the other tables join on.

Ids of one kind in every table (integers of any width, floats, text) are joined as they are; mixed
kinds only where every id converts without loss (see :func:`register_keys`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import DataConfig
from features.data.checks import SAMPLES, check_columns, examples
from features.data.sources import Source
from features.data.sql import quote
from features.errors import DataError
from features.tables import LoadReport


def read_accounts(source: Source, config: DataConfig, fit: list[str], report: LoadReport) -> pd.DataFrame:
    """The accounts (``account_id``, ``created_at`` and the fit columns ``fit``) sorted by id, checked: an
    empty table or a repeated id is a DataError; date columns are dropped from ``fit`` with a note."""
    n, _ = check_columns(source, "accounts", config, set())
    if n == 0:
        raise DataError("accounts", None, "is empty")
    frame = _sorted_accounts(source, ["account_id", "created_at", *fit])
    if _has_repeats(frame["account_id"]):
        dup = frame["account_id"].duplicated(keep=False)
        ex = ", ".join(map(repr, frame.loc[dup, "account_id"].drop_duplicates().head(SAMPLES).tolist()))
        raise DataError("accounts", config.column("accounts", "account_id"),
                        f"{int(frame['account_id'].duplicated().sum()):,} duplicate account ids, e.g. {ex}")
    for col in fit:
        if pd.api.types.is_datetime64_any_dtype(frame[col]) or isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            # A date attribute may lie after the as-of instant (e.g. "first_paid_at"): not safe as a fit feature.
            frame = frame.drop(columns=col)
            report.notes.append(f"accounts column '{col}' holds dates: not used as a fit attribute")
    frame["created_at"] = frame["created_at"].astype("datetime64[us]")
    report.rows_read["accounts"] = n
    return frame.reset_index(drop=True)


_ARROW_SAFE = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
               "FLOAT", "DOUBLE", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE")


def _sorted_accounts(source: Source, columns: list[str]) -> pd.DataFrame:
    """``SELECT columns FROM canon_accounts ORDER BY account_id`` as a DataFrame, as DuckDB's ``.df()`` makes it.

    ``.df()`` turns every text value into a Python string and pandas turns those back into an Arrow
    array (2 s for a million accounts): the sorted rows come as Arrow, text columns go to pandas from
    there, and the others (types that cross Arrow unchanged) through ``.df()`` of that Arrow table.
    """
    con, select = source.con, ", ".join(quote(c) for c in columns)
    query = f"SELECT {select} FROM canon_accounts ORDER BY account_id"
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {query}").fetchall()}
    if list(types) != columns or any(t not in _ARROW_SAFE and t != "VARCHAR" for t in types.values()):
        return con.execute(query).df()  # names DuckDB had to tell apart, or types to convert as before
    table = con.sql(query).to_arrow_table()
    text = [c for c in columns if types[c] == "VARCHAR"]
    other = [c for c in columns if c not in text]
    parts: dict[str, pd.Series] = {c: table.column(c).to_pandas() for c in text}
    if other:
        con.register("accounts_arrow", table.select(other))
        try:
            parts.update(con.execute("SELECT * FROM accounts_arrow").df())
        finally:
            con.unregister("accounts_arrow")
    return pd.DataFrame({c: parts[c] for c in columns})


def _has_repeats(ids: pd.Series) -> bool:
    """Whether sorted ids hold a value twice (equal values are neighbours; NaN floats ask pandas)."""
    if len(ids) < 2:
        return False
    if isinstance(ids.dtype, pd.StringDtype):
        values = pa.array(ids.array)
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        return bool(pc.any(pc.equal(values.slice(1), values.slice(0, len(values) - 1))).as_py())
    if ids.dtype.kind in "iub":
        values = ids.to_numpy()
        return bool((values[1:] == values[:-1]).any())
    return bool(ids.duplicated().any())


_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT")

_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")


def _id_kind(dtype: str) -> str:
    """``integer``, ``float``, ``text`` or ``other`` for a DuckDB type."""
    base = dtype.upper().split("(")[0].strip()
    if base in _INTEGER_TYPES:
        return "integer"
    if base in _FLOAT_TYPES:
        return "float"
    return "text" if base == "VARCHAR" else "other"


def key_type(source: Source, table: str) -> str:
    """The DuckDB type of ``account_id`` in ``canon_<table>``."""
    rows = source.con.execute(f"DESCRIBE canon_{table}").fetchall()
    return next(r[1] for r in rows if r[0] == "account_id")

_FRAME_KEYS = ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def key_array(account_ids: pd.Series) -> pa.Array:
    """The accounts' ids (in row order) as one Arrow array."""
    ids = pa.array(account_ids.array) if isinstance(account_ids.dtype, pd.StringDtype) else pa.array(
        account_ids.to_numpy())
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def _create_keys(source: Source, expr: str, account_ids: pd.Series | None = None) -> None:
    """``account_keys``: the (normalised) id of every account and its row in the accounts frame, which
    :func:`read_accounts` ordered by ``account_id`` (ids are unique, so the order is the same).

    Text and integer ids joined as they are come from the frame itself (``account_ids``), numbered in
    its order: a million ids are not sorted a second time.
    """
    dtype = key_type(source, "accounts")
    if expr == "t.account_id" and account_ids is not None and dtype in _FRAME_KEYS:
        frame = pa.table({"account_id": key_array(account_ids), "k": np.arange(len(account_ids), dtype=np.int32)})
        source.con.register("account_keys_frame", frame)
        try:
            source.con.execute(f"CREATE OR REPLACE TEMP TABLE account_keys AS SELECT CAST(account_id AS {dtype}) "
                               f"AS account_id, k FROM account_keys_frame")
        finally:
            source.con.unregister("account_keys_frame")
        return
    source.con.execute(f"CREATE OR REPLACE TEMP TABLE account_keys AS SELECT {expr} AS account_id, "
                       f"(row_number() OVER (ORDER BY t.account_id) - 1)::INTEGER AS k FROM canon_accounts t")


def register_keys(source: Source, tables: list[str], config: DataConfig,
                  report: LoadReport, account_ids: pd.Series | None = None) -> dict[str, str]:
    """Register account ids -> row numbers as ``account_keys``; returns, per table, the SQL expression
    (on alias ``t``) whose value is joined on ``account_keys.account_id``.

    Tables whose id columns have one kind (integers of any width, floats, text) are joined as they are.
    Mixed kinds are matched only when that is lossless, and the report says so: whole-number floats
    and text that is the plain form of an integer (``'12'``, not ``'000012'`` or ``'12.0'``) match
    integers; text matches another type when every value is that type's own text form. Anything else
    is a DataError naming both tables and types: guessing would set rows aside or pair the wrong ones.
    """
    plain = {table: "t.account_id" for table in tables}
    # A table without rows (or of untyped NULLs) has no ids to match: its column type does not count.
    tables = [t for t in tables if t == "accounts" or (
        key_type(source, t) != '"NULL"' and source.con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM canon_{t} WHERE account_id IS NOT NULL LIMIT 1)").fetchall()[0][0])]
    types = {table: key_type(source, table) for table in tables}
    kinds = {table: _id_kind(dtype) for table, dtype in types.items()}
    if len(set(kinds.values())) == 1 and (len(set(types.values())) == 1 or kinds["accounts"] != "other"):
        _create_keys(source, "t.account_id", account_ids)
        return plain
    target = _common_type(tables, types, kinds, config)
    exprs: dict[str, str] = dict(plain)
    converted = []
    for table in tables:
        if kinds[table] == "integer" or types[table] == target:
            exprs[table] = f"CAST(t.account_id AS {target})"
            continue
        _check_lossless(source, table, config, target, types, kinds)
        exprs[table] = f"TRY_CAST(t.account_id AS {target})"
        converted.append(f"{table} ({types[table]})")
    kept = [f"{t} ({types[t]})" for t in tables if f"{t} ({types[t]})" not in converted]
    report.notes.append(f"account ids: {', '.join(converted)} matched as {target} with {', '.join(kept)}: "
                        f"every id converts without loss")
    _create_keys(source, exprs["accounts"])
    return exprs


def _common_type(tables: list[str], types: dict[str, str], kinds: dict[str, str], config: DataConfig) -> str:
    """The type that account ids of mixed kinds are matched as: BIGINT among numbers, a type of its own
    (a UUID, say) against its text form; anything else is a DataError naming two of the tables."""
    numeric = {"integer", "float"} & set(kinds.values())
    others = {types[t] for t in tables if kinds[t] not in ("integer", "float", "text")}
    if numeric and not others:
        return "BIGINT"
    if len(others) == 1 and set(kinds.values()) == {"other", "text"}:
        return others.pop()
    a, b = [t for t in tables if kinds[t] == kinds["accounts"]][0], next(
        t for t in tables if kinds[t] != kinds["accounts"])
    raise DataError(b, config.column(b, "account_id"), f"account ids are {types[b]} but '{a}' ids are "
                    f"{types[a]}: they cannot be matched; give account_id one type in every table")


def _check_lossless(source: Source, table: str, config: DataConfig, target: str, types: dict[str, str],
                    kinds: dict[str, str]) -> None:
    """A DataError unless every account id of ``table`` converts to ``target`` and back unchanged (text in
    its plain form, floats that are whole numbers), with examples from it and another table."""
    cast = f"TRY_CAST(account_id AS {target})"
    if kinds[table] == "text":
        lossy = f"account_id IS NOT NULL AND CAST({cast} AS VARCHAR) IS DISTINCT FROM account_id"
        what = f"text that is not the plain form of a {target} value"
    else:  # floats (or decimals) against integers: whole numbers only
        lossy = f"account_id IS NOT NULL AND ({cast} IS NULL OR {cast} <> account_id)"
        what = "not whole numbers"
    bad = source.con.execute(f"SELECT count(*) FROM canon_{table} WHERE {lossy}").fetchall()[0][0]
    if bad:
        other = "accounts" if table != "accounts" else next(t for t in types if kinds[t] != kinds["accounts"])
        ex = examples(source, table, lossy, "account_id")
        other_ex = examples(source, other, "account_id IS NOT NULL", "account_id")
        raise DataError(table, config.column(table, "account_id"),
                        f"account ids are {types[table]} (e.g. {ex}) but '{other}' ids are {types[other]} "
                        f"(e.g. {other_ex}): {bad:,} ids are {what}, so the tables cannot be matched without "
                        f"guessing; give account_id one type in every table")
