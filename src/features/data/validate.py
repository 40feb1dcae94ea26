"""Checking the canonical tables and turning them into :class:`~features.tables.Tables`.

Errors (the run stops, nothing is written): a missing table or column, a null key, an
unparseable timestamp, a duplicate account id, a non-numeric quantity or amount, an empty
``accounts`` or ``events`` table, a table none of whose rows can be kept, account ids whose types
differ between tables unless they match without loss. Rows that can be set aside safely are set
aside and counted: exact duplicate events or touches, events before their account existed, events
or touches whose quantity is NaN or infinite, events, conversions and touches of accounts missing
from ``accounts``, later conversions of an account that already converted. ``data.strict=true``
turns every set-aside row into an error. Accounts created long before the bulk are noted.

The account ids and event names of a log read from Parquet are coded from the files' dictionaries
(:mod:`features.data.parquet_log`) instead of a DuckDB join of tens of millions of text ids: same rows,
same codes, same report and errors (the rows in the files' order, where the join's order varied).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.data import parquet_log
from features.config import TIME_COLUMN, DataConfig
from features.errors import ConfigError, DataError
from features.data.sources import Source, quote
from features.windows import DAY_US, from_us, to_us
from features.tables import NEVER, EventLog, LoadReport, Tables, kind_dtype

_SAMPLES = 3


def _examples(source: Source, table: str, condition: str, column: str) -> str:
    rows = source.con.execute(
        f"SELECT DISTINCT CAST({column} AS VARCHAR) FROM canon_{table} WHERE {condition} LIMIT {_SAMPLES}").fetchall()
    return ", ".join(repr(r[0]) for r in rows)


def _check_columns(source: Source, table: str, config: DataConfig, has: set[str]) -> tuple[int, list[tuple[str, int]]]:
    """Count the rows of a canonical table; raise on null keys, bad timestamps, bad numbers.

    Returns the row count and, for events and touches, the rows per event (touch) name, most frequent
    first (ties by name): one scan of the table serves both.
    """
    key = "event" if table == "events" else "touch" if table == "touches" else None
    checks = _checks(table, has)
    if key:
        groups = source.con.execute(f"SELECT {key}, {', '.join(checks.values())} FROM canon_{table} "
                                    f"GROUP BY {key}").fetchall()
        got = {name: sum(int(g[i + 1]) for g in groups) for i, name in enumerate(checks)}
        # DuckDB orders text by its UTF-8 bytes, Python by code points: the same order
        names = sorted(((str(g[0]), int(g[1])) for g in groups if g[0] is not None), key=lambda x: (-x[1], x[0]))
    else:
        values = source.con.execute(f"SELECT {', '.join(checks.values())} FROM canon_{table}").fetchall()[0]
        got, names = dict(zip(checks, values)), []
    _raise_on_checks(source, table, config, got)
    return int(got["rows"]), names


def _checks(table: str, has: set[str]) -> dict[str, str]:
    """The counts behind the one-line errors of a canonical table (read by :func:`_raise_on_checks`)."""
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


def _raise_on_checks(source: Source, table: str, config: DataConfig, got: dict[str, int]) -> None:
    """The first problem among the counts of :func:`_check_columns` as a DataError (examples read from
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
        ex = _examples(source, table, f"{time_col}__raw IS NOT NULL AND {time_col} IS NULL", f"{time_col}__raw")
        unit = config.unit(table)
        how = f"epoch {unit}" if unit else "ISO-8601 timestamps"
        raise DataError(table, src(time_col), f"{got['bad_time']:,} values cannot be read as {how}, e.g. {ex}")
    for num in ("quantity", "amount"):
        if got.get(f"bad_{num}"):
            ex = _examples(source, table, f"{num}__raw IS NOT NULL AND {num} IS NULL", f"{num}__raw")
            raise DataError(table, src(num), f"{got[f'bad_{num}']:,} values are not numbers, e.g. {ex}")


def _columns_of(source: Source, table: str) -> set[str]:
    return {r[0] for r in source.con.execute(f"DESCRIBE canon_{table}").fetchall()}


def _read_accounts(source: Source, config: DataConfig, fit: list[str], report: LoadReport) -> pd.DataFrame:
    n, _ = _check_columns(source, "accounts", config, set())
    if n == 0:
        raise DataError("accounts", None, "is empty")
    frame = _sorted_accounts(source, ["account_id", "created_at", *fit])
    if _has_repeats(frame["account_id"]):
        dup = frame["account_id"].duplicated(keep=False)
        ex = ", ".join(map(repr, frame.loc[dup, "account_id"].drop_duplicates().head(_SAMPLES).tolist()))
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


def _key_type(source: Source, table: str) -> str:
    rows = source.con.execute(f"DESCRIBE canon_{table}").fetchall()
    return next(r[1] for r in rows if r[0] == "account_id")


_FRAME_KEYS = ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def _create_keys(source: Source, expr: str, account_ids: pd.Series | None = None) -> None:
    """``account_keys``: the (normalised) id of every account and its row in the accounts frame, which
    :func:`_read_accounts` ordered by ``account_id`` (ids are unique, so the order is the same).

    Text and integer ids joined as they are come from the frame itself (``account_ids``), numbered in
    its order: a million ids are not sorted a second time.
    """
    dtype = _key_type(source, "accounts")
    if expr == "t.account_id" and account_ids is not None and dtype in _FRAME_KEYS:
        frame = pa.table({"account_id": _key_array(account_ids), "k": np.arange(len(account_ids), dtype=np.int32)})
        source.con.register("account_keys_frame", frame)
        try:
            source.con.execute(f"CREATE OR REPLACE TEMP TABLE account_keys AS SELECT CAST(account_id AS {dtype}) "
                               f"AS account_id, k FROM account_keys_frame")
        finally:
            source.con.unregister("account_keys_frame")
        return
    source.con.execute(f"CREATE OR REPLACE TEMP TABLE account_keys AS SELECT {expr} AS account_id, "
                       f"(row_number() OVER (ORDER BY t.account_id) - 1)::INTEGER AS k FROM canon_accounts t")


def _register_keys(source: Source, tables: list[str], config: DataConfig,
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
        _key_type(source, t) != '"NULL"' and source.con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM canon_{t} WHERE account_id IS NOT NULL LIMIT 1)").fetchall()[0][0])]
    types = {table: _key_type(source, table) for table in tables}
    kinds = {table: _id_kind(dtype) for table, dtype in types.items()}
    if len(set(kinds.values())) == 1 and (len(set(types.values())) == 1 or kinds["accounts"] != "other"):
        _create_keys(source, "t.account_id", account_ids)
        return plain
    numeric = {"integer", "float"} & set(kinds.values())
    others = {types[t] for t in tables if kinds[t] not in ("integer", "float", "text")}
    if numeric and not others:
        target = "BIGINT"
    elif len(others) == 1 and set(kinds.values()) == {"other", "text"}:
        target = others.pop()
    else:
        a, b = [t for t in tables if kinds[t] == kinds["accounts"]][0], next(
            t for t in tables if kinds[t] != kinds["accounts"])
        raise DataError(b, config.column(b, "account_id"), f"account ids are {types[b]} but '{a}' ids are "
                        f"{types[a]}: they cannot be matched; give account_id one type in every table")
    exprs: dict[str, str] = dict(plain)
    converted = []
    for table in tables:
        kind = kinds[table]
        if kind == "integer" or types[table] == target:
            exprs[table] = f"CAST(t.account_id AS {target})"
            continue
        cast = f"TRY_CAST(account_id AS {target})"
        if kind == "text":
            lossy = f"account_id IS NOT NULL AND CAST({cast} AS VARCHAR) IS DISTINCT FROM account_id"
            what = f"text that is not the plain form of a {target} value"
        else:  # floats (or decimals) against integers: whole numbers only
            lossy = f"account_id IS NOT NULL AND ({cast} IS NULL OR {cast} <> account_id)"
            what = "not whole numbers"
        bad = source.con.execute(f"SELECT count(*) FROM canon_{table} WHERE {lossy}").fetchall()[0][0]
        if bad:
            other = "accounts" if table != "accounts" else next(t for t in tables if kinds[t] != kinds["accounts"])
            ex = _examples(source, table, lossy, "account_id")
            other_ex = _examples(source, other, "account_id IS NOT NULL", "account_id")
            raise DataError(table, config.column(table, "account_id"),
                            f"account ids are {types[table]} (e.g. {ex}) but '{other}' ids are {types[other]} "
                            f"(e.g. {other_ex}): {bad:,} ids are {what}, so the tables cannot be matched without "
                            f"guessing; give account_id one type in every table")
        exprs[table] = f"TRY_CAST(t.account_id AS {target})"
        converted.append(f"{table} ({types[table]})")
    kept = [f"{t} ({types[t]})" for t in tables if f"{t} ({types[t]})" not in converted]
    report.notes.append(f"account ids: {', '.join(converted)} matched as {target} with {', '.join(kept)}: "
                        f"every id converts without loss")
    _create_keys(source, exprs["accounts"])
    return exprs


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _bits64(column: np.ndarray) -> np.ndarray:
    """The 64 bits of each value (a view for 64-bit columns, a widening copy otherwise)."""
    if column.dtype.kind == "f":  # + 0.0 turns -0.0 into 0.0: equal values, one hash
        return (column.astype(np.float64, copy=False) + 0.0).view(np.uint64)
    if column.dtype.itemsize == 8:
        return column.view(np.uint64)
    return column.astype(np.int64).view(np.uint64)


def _row_hash(columns: list[np.ndarray], chunk: int = 1 << 20, numbered: bool = False) -> np.ndarray:
    """A 64-bit hash of each row of integer/float columns (multiply-xorshift mixing, vectorised, in place,
    a million rows at a time so that the temporaries stay small whatever the table's size; the chunks are
    spread over the cores, as numpy lets go of the GIL).

    Only used to find candidate duplicates: rows that share a hash are compared on their values. With
    ``numbered``, the low ``bit_length(n - 1)`` bits of each hash are replaced by the row's number (see
    :func:`_duplicate_rows`).

    >>> a, b = np.array([1, 2, 1]), np.array([0.5, 0.5, 0.5])
    >>> h = _row_hash([a, b])
    >>> bool(h[0] == h[2]), bool(h[0] == h[1])
    (True, False)
    """
    n = len(columns[0])
    out = np.zeros(n, dtype=np.uint64)
    low = np.uint64((1 << max(n - 1, 0).bit_length()) - 1)

    def mix(lo: int) -> None:
        h = out[lo:lo + chunk]
        t = np.empty(len(h), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for column in columns:
                np.bitwise_xor(h, _bits64(column[lo:lo + chunk]), out=h)
                np.multiply(h, _MIX, out=h)
                np.right_shift(h, np.uint64(29), out=t)
                np.bitwise_xor(h, t, out=h)
        if numbered:
            np.bitwise_and(h, ~low, out=h)
            np.bitwise_or(h, np.arange(lo, lo + len(h), dtype=np.uint64), out=h)

    starts = range(0, n, chunk)
    if len(starts) < 4:
        for lo in starts:
            mix(lo)
    else:
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(mix, starts))
    return out


_THREADS = max(1, min(4, os.cpu_count() or 1))


def _duplicate_rows(row_hash: np.ndarray | None, columns: list[np.ndarray], skip: np.ndarray | None = None,
                    chunk: int = 1 << 22) -> np.ndarray:
    """Mask of rows that repeat an earlier row exactly (the first of each group is kept).

    Each row's hash keeps its top bits and carries the row's number in the low ones; one sort of these
    words puts rows with the same top bits side by side, and the numbers say which rows they are. Only
    those rows are compared on their actual values, so a hash collision never discards a row.
    (With ``n`` rows, ``64 - bit_length(n - 1)`` bits of hash remain: 39 at 20 M rows, where about 400
    pairs of distinct rows share them by chance and are told apart by the comparison.) ``row_hash``
    None: the words are made here from ``columns``, without a separate pass. Rows where ``skip`` is true
    (already set aside) are nobody's duplicate and have none: they are left out of the comparison, which
    gives the rows the same mask as a search among the other rows alone, without copying those.

    >>> cols = [np.array([1, 2, 1, 1]), np.array([5, 5, 5, 6])]
    >>> _duplicate_rows(_row_hash(cols), cols).tolist()
    [False, False, True, False]
    """
    n = len(columns[0]) if row_hash is None else len(row_hash)
    mask = np.zeros(n, dtype=bool)
    if n < 2:
        return mask
    low = np.uint64((1 << (n - 1).bit_length()) - 1)
    if row_hash is None:
        words = _row_hash(columns, numbered=True)
    else:
        words = row_hash & ~low
        words |= np.arange(n, dtype=np.uint64)
    words.sort()
    found = []  # neighbours whose top bits agree, a chunk at a time (no temporary as long as the table)
    for lo in range(0, n - 1, chunk):
        hi = min(lo + chunk, n - 1)
        found.append(np.flatnonzero((words[lo + 1:hi + 1] ^ words[lo:hi]) <= low) + lo)
    pairs = np.concatenate(found)
    if not len(pairs):
        return mask
    candidates = np.unique(np.concatenate([words[pairs], words[pairs + 1]]) & low).astype(np.intp)
    del words
    if skip is not None:
        candidates = candidates[~skip[candidates]]
    frame = pd.DataFrame({f"c{i}": col[candidates] for i, col in enumerate(columns)})
    mask[candidates[frame.duplicated(keep="first").to_numpy()]] = True
    return mask


DAY_RESOLUTION_MIN_ROWS = 1000  # a handful of rows at midnight is a hand-made table, not a date-only export


def _keeps_repeats(setting: str, ts: np.ndarray) -> bool:
    """Whether identical rows are kept (``data.duplicates``): ``keep``; ``set_aside``; ``auto`` keeps them
    when every timestamp is a date (00:00) in a table of some size (day-resolution data)."""
    if setting not in ("auto", "keep", "set_aside"):
        raise ConfigError(f"data.duplicates: '{setting}' is not one of ['auto', 'keep', 'set_aside']")
    if setting != "auto":
        return setting == "keep"
    if len(ts) < DAY_RESOLUTION_MIN_ROWS or (ts[:DAY_RESOLUTION_MIN_ROWS] % DAY_US).any():
        return False  # a time of day among the first rows settles it without a pass over all of them
    return not any((ts[lo:lo + _CHUNK] % DAY_US).any() for lo in range(0, len(ts), _CHUNK))


_CHUNK = 1 << 22  # rows per step of a whole-table pass: temporaries of a few MiB, not of the table's size


def _compact(column: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``column[keep]`` written over ``column`` itself a chunk at a time (kept rows only move towards the
    start: nothing unread is overwritten), so no second copy of the column exists; returns the kept
    prefix (a view; copied when more than 1/16 of the rows went, so that their memory goes too)."""
    pos = 0
    for lo in range(0, len(column), _CHUNK):
        part = column[lo:lo + _CHUNK][keep[lo:lo + _CHUNK]]
        column[pos:pos + len(part)] = part
        pos += len(part)
    return column[:pos].copy() if 16 * (len(column) - pos) > len(column) else column[:pos]


def _read_log(source: Source, table: str, config: DataConfig, join_on: str, account_ids: pd.Series,
              created_us: np.ndarray, report: LoadReport, before_created: bool) -> EventLog:
    """Events or touches as an integer-coded log, with set-aside rows removed and counted."""
    has = _columns_of(source, table)
    plain = join_on == "t.account_id" and _key_type(source, table) == _key_type(source, "accounts")
    keys = parquet_log.plan(source, table, config) if plain else None
    if keys is not None:
        n, col, names = _read_keyed_log(source, table, config, keys, account_ids, has)
    else:
        n, names = _check_columns(source, table, config, has)
        col = _query_log(source, table, join_on, names, has, n)
    report.rows_read[table] = n
    user = "user_id" in has
    qty = "quantity" in has
    drop = col["account"] < 0  # unknown accounts; then rows set aside for any reason
    unknown = int(drop.sum())
    report.set_aside[f"{table}: unknown account"] = unknown
    _not_all_unknown(table, config, n, unknown)
    if before_created:
        early = np.zeros(n, dtype=bool)
        for lo in range(0, n, _CHUNK):  # the owners' created_at a chunk at a time (8 bytes a row otherwise)
            account, gone = col["account"][lo:lo + _CHUNK], drop[lo:lo + _CHUNK]
            owner = np.where(gone, 0, account) if unknown else account
            early[lo:lo + _CHUNK] = (col["ts"][lo:lo + _CHUNK] < created_us[owner]) & ~gone
        report.set_aside[f"{table}: before the account existed"] = int(early.sum())
        np.logical_or(drop, early, out=drop)
        del early
    if qty:
        # NaN or inf would turn every window sum it reaches into NaN/inf (see rollup.ExactSums)
        bad = np.isfinite(col["quantity"])
        np.logical_not(bad, out=bad)
        report.set_aside[f"{table}: non-finite quantity"] = int(bad.sum()) - int(np.count_nonzero(bad & drop))
        np.logical_or(drop, bad, out=drop)
        del bad
    keep_cols = [col["account"], col["kind"], col["ts"]] + ([col["user_hash"]] if user else []) + (
        [col["quantity"]] if qty else [])
    if _keeps_repeats(config.duplicates, col["ts"]):
        # dates without a time of day: two identical rows are two actions on one day, not a double export
        report.notes.append(f"{table}: timestamps carry dates only (day resolution): repeated rows are counted as "
                            f"separate actions, not set aside as duplicates")
    else:
        # rows already set aside are no duplicates of anything (skipped, not copied out)
        dups = _duplicate_rows(None, keep_cols, skip=drop if drop.any() else None)
        report.set_aside[f"{table}: exact duplicates"] = int(dups.sum())
        np.logical_or(drop, dups, out=drop)
        del dups
    del keep_cols
    if drop.any():  # a column per thread, each compacted over itself
        keep = np.logical_not(drop, out=drop)

        def compact(name: str) -> None:
            col[name] = _compact(col[name], keep)

        with ThreadPoolExecutor(min(_THREADS, 2)) as pool:
            list(pool.map(compact, list(col)))
    return EventLog(col["account"], col["kind"], col["ts"], tuple(name for name, _ in names), col.get("user_hash"),
                    col.get("quantity"))


# users are counted by a 64-bit hash of their id (0: no user), the same on both read paths
_USER_HASH = "CASE WHEN t.user_id IS NULL THEN 0 ELSE hash(t.user_id) END AS user_hash"


def _key_array(account_ids: pd.Series) -> pa.Array:
    """The accounts' ids (in row order) as one Arrow array."""
    ids = pa.array(account_ids.array) if isinstance(account_ids.dtype, pd.StringDtype) else pa.array(
        account_ids.to_numpy())
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def _read_keyed_log(source: Source, table: str, config: DataConfig, keys: parquet_log.Plan, account_ids: pd.Series,
                    has: set[str]) -> tuple[int, dict[str, np.ndarray], list[tuple[str, int]]]:
    """What :func:`_check_columns` and :func:`_query_log` return, with the account ids and names coded from
    the Parquet files (:mod:`features.data.parquet_log`) and the other columns read through the view without a
    join (a scan keeps the files' row order, so the columns line up). DuckDB scans in a second thread
    while Arrow codes the keys."""
    select = ["epoch_us(t.timestamp) AS ts"]
    if "user_id" in has:
        select.append(_USER_HASH)
    if "quantity" in has:
        select.append("t.quantity AS quantity")
    missing: dict[str, int] = {}
    n = parquet_log.rows(keys)
    with ThreadPoolExecutor(1) as pool:
        fetching = pool.submit(_fetch_columns, source, f"SELECT {', '.join(select)} FROM canon_{table} t", n,
                               fill={"ts": 0, "quantity": 1.0}, nulls=missing)
        try:
            coded, nulls, names, col = parquet_log.read_keys(keys, _key_array(account_ids))
        finally:
            fetched = fetching.result()  # the connection is free again before anything is raised
    if coded != n or len(fetched["ts"]) != n:
        raise RuntimeError(f"{table}: the files hold {n:,} rows, Arrow read {coded:,}, the view {len(fetched['ts']):,}")
    col.update(fetched)
    got = {"rows": n, "null_id": nulls["account_id"], "null_key": nulls["name"], "null_time": 0, "bad_time": 0}
    _raise_on_checks(source, table, config, got)
    if missing.get("ts") or missing.get("quantity"):
        # a null timestamp or quantity is missing or unreadable: the view's counts tell which
        checks = _checks(table, has)
        values = source.con.execute(f"SELECT {', '.join(checks.values())} FROM canon_{table}").fetchall()[0]
        _raise_on_checks(source, table, config, dict(zip(checks, map(int, values))))
    return n, col, names


def _query_log(source: Source, table: str, join_on: str, names: list[tuple[str, int]], has: set[str],
               n: int) -> dict[str, np.ndarray]:
    """The coded columns of a log table, read through its canonical view by DuckDB."""
    key = "event" if table == "events" else "touch"
    codes = pd.DataFrame({key: [r[0] for r in names], "code": np.arange(len(names), dtype=np.int32)})
    source.con.register(f"{table}_codes", codes)
    select = [
        "coalesce(k.k, -1)::INTEGER AS account",
        "c.code AS kind",
        "epoch_us(t.timestamp) AS ts",
    ]
    if "user_id" in has:
        select.append(_USER_HASH)
    if "quantity" in has:
        select.append("coalesce(t.quantity, 1.0) AS quantity")
    query = (f"SELECT {', '.join(select)} FROM canon_{table} t "
             f"LEFT JOIN account_keys k ON {join_on} = k.account_id JOIN {table}_codes c USING ({key})")
    return _fetch_columns(source, query, n, dtypes={"kind": kind_dtype(len(names))})


_DTYPES = {"account": np.int32, "kind": np.int32, "ts": np.int64, "user_hash": np.uint64, "quantity": np.float64}
_BATCH_ROWS = 1 << 20


def _fetch_columns(source: Source, query: str, n: int, fill: dict[str, object] | None = None,
                   nulls: dict[str, int] | None = None, dtypes: dict[str, type] | None = None) -> dict[str, np.ndarray]:
    """The result of ``query`` (``n`` rows) as numpy columns, streamed in batches into arrays allocated
    once: the whole result never exists twice (as DuckDB's or Arrow's copy beside numpy's).

    A null in column ``c`` becomes ``fill[c]``; ``nulls[c]`` counts them. ``dtypes`` overrides the column
    types of ``_DTYPES`` (the values must fit).
    """
    relation = source.con.sql(query)
    types = {**_DTYPES, **(dtypes or {})}
    out = {name: np.empty(n, dtype=types[name]) for name in relation.columns}
    pos = 0
    for batch in relation.to_arrow_reader(_BATCH_ROWS):
        m = batch.num_rows
        if pos + m > n:
            raise RuntimeError(f"the query returned more than the {n:,} rows counted")
        for name in out:
            values = batch.column(name)
            if values.null_count and fill is not None and name in fill:
                if nulls is not None:
                    nulls[name] = nulls.get(name, 0) + values.null_count
                values = values.fill_null(fill[name])
            out[name][pos:pos + m] = values.to_numpy(zero_copy_only=False)
        pos += m
    return {name: column[:pos] for name, column in out.items()}


def _not_all_unknown(table: str, config: DataConfig, n: int, unknown: int) -> None:
    """A table none of whose rows belongs to a known account is an error (as an empty table is): it is
    almost always a key that does not match (another column, another id format), not data to ignore."""
    if n and unknown == n:
        raise DataError(table, config.column(table, "account_id"),
                        f"none of its {n:,} rows has an account id that is in accounts (all would be set aside "
                        f"as unknown accounts): check the account id column, its format and its mapping "
                        f"(data.columns.{table}.account_id)")


def _read_conversions(source: Source, config: DataConfig, n_accounts: int, join_on: str,
                      report: LoadReport) -> tuple[pd.DataFrame, np.ndarray]:
    has = _columns_of(source, "conversions")
    n, _ = _check_columns(source, "conversions", config, has)
    report.rows_read["conversions"] = n
    cols = "t.account_id, t.converted_at" + (", t.amount" if "amount" in has else "")
    conv = source.con.execute(f"SELECT {cols}, coalesce(k.k, -1)::INTEGER AS k FROM canon_conversions t "
                              f"LEFT JOIN account_keys k ON {join_on} = k.account_id").df()
    known = conv["k"].to_numpy() >= 0
    report.set_aside["conversions: unknown account"] = int((~known).sum())
    _not_all_unknown("conversions", config, n, int((~known).sum()))
    conv = conv[known].sort_values(["k", "converted_at"], kind="stable")
    first = ~conv["k"].duplicated()
    report.set_aside["conversions: repeat conversions of a converted account"] = int((~first).sum())
    conv = conv[first]
    converted = np.full(n_accounts, NEVER, dtype=np.int64)
    converted[conv["k"].to_numpy()] = conv["converted_at"].astype("datetime64[us]").to_numpy().view("int64")
    out = conv.drop(columns="k").reset_index(drop=True)
    out["converted_at"] = out["converted_at"].astype("datetime64[us]")
    return out, converted


OUTLIER_BEFORE = "2000-01-01"  # accounts created before this are reported as outliers whatever the bulk
OUTLIER_GAP_DAYS = 365  # ... as are accounts created this long before the first percentile of created_at


def _note_outliers(created_us: np.ndarray, report: LoadReport) -> None:
    """A note counting accounts created long before the bulk (a 1970 default date, a test account):
    they do not stretch the snapshot grid (``snapshots.start_share``), but they should be seen."""
    if len(created_us) < 2:
        return
    ordered = np.sort(created_us)
    bulk = int(ordered[min(int(np.ceil(0.01 * len(ordered))), len(ordered) - 1)])  # as snapshots.grid counts
    early = (created_us < bulk - OUTLIER_GAP_DAYS * DAY_US) | (created_us < to_us(OUTLIER_BEFORE))
    if early.any():
        first = from_us([int(ordered[0])])[0]
        report.notes.append(
            f"accounts: {int(early.sum()):,} account{'s' if early.sum() > 1 else ''} created long before the bulk "
            f"(before {OUTLIER_BEFORE} or over {OUTLIER_GAP_DAYS} days before the first percentile of created_at, "
            f"{from_us([bulk])[0]:%Y-%m-%d}); the earliest on {first:%Y-%m-%d}: check created_at of these accounts "
            f"(the snapshot grid starts where the accounts are, see snapshots.start_share)")


def validate(source: Source, config: DataConfig, fit: list[str], report: LoadReport) -> Tables:
    """Check every table, set aside what can be, and return the tables the builder works on."""
    accounts = _read_accounts(source, config, fit, report)
    created_us = accounts["created_at"].to_numpy().view("int64")
    _note_outliers(created_us, report)
    logs = ["events", "conversions"] + (["touches"] if "touches" in source.tables else [])
    join_on = _register_keys(source, ["accounts", *logs], config, report, accounts["account_id"])
    events = _read_log(source, "events", config, join_on["events"], accounts["account_id"], created_us, report,
                       before_created=True)
    if report.rows_read["events"] == 0:
        raise DataError("events", None, "is empty")
    conversions, converted_us = _read_conversions(source, config, len(accounts), join_on["conversions"], report)
    # Marketing touches before signup are legitimate history (a lead nurtured before it signed up).
    touches = (_read_log(source, "touches", config, join_on["touches"], accounts["account_id"], created_us, report,
                         before_created=False)
               if "touches" in source.tables else None)
    check_strict(report, config.strict)
    ends = [events.ts.max() if len(events) else np.iinfo(np.int64).min]
    if touches is not None and len(touches):
        ends.append(touches.ts.max())
    finite = converted_us[converted_us != NEVER]
    if len(finite):
        ends.append(finite.max())
    fit_columns = tuple(c for c in accounts.columns if c not in ("account_id", "created_at"))
    return Tables(accounts=accounts, created_us=created_us, converted_us=converted_us, events=events,
                  touches=touches, fit_columns=fit_columns, data_end_us=int(max(ends)) + 1, conversions=conversions)


def check_strict(report: LoadReport, strict: bool) -> None:
    """With ``data.strict=true``, any row set aside is an error naming its table and why (both engines)."""
    bad = {k: n for k, n in report.set_aside.items() if n}
    if strict and bad:
        kind, count = next(iter(bad.items()))
        table, what = kind.split(": ", 1)
        raise DataError(table, None, f"{count:,} rows would be set aside ({what}); data.strict=true makes "
                                     f"this an error (all: {bad})")
