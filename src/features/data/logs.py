"""Reading a log (events or touches) into an integer-coded :class:`~features.tables.EventLog`, with the rows
to set aside removed and counted: unknown accounts, events before their account existed, non-finite
quantities, exact duplicates.

Columns come straight into numpy arrays allocated once (tens of millions of rows never exist twice).
A log read as it is from Parquet files has its account ids and names coded from the files' dictionaries
(:mod:`features.data.parquet_log`, "keyed"); any other is joined on ``account_keys`` by DuckDB ("queried").
Both give the same rows, codes, report and errors.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from features.config import DataConfig
from features.data import parquet_log
from features.data.checks import check_columns, column_checks, columns_of, not_all_unknown, raise_on_checks
from features.data.duplicates import CHUNK, THREADS, duplicate_rows, keeps_repeats
from features.data.keys import key_array, key_type
from features.data.sources import Source
from features.tables import EventLog, LoadReport, kind_dtype


def read_log(source: Source, table: str, config: DataConfig, join_on: str, account_ids: pd.Series,
             created_us: np.ndarray, report: LoadReport, before_created: bool) -> EventLog:
    """Events or touches as an integer-coded log, with set-aside rows removed and counted.

    ``join_on`` is the SQL of the table's ids joined on ``account_keys`` (see :func:`features.data.keys.register_keys`);
    ``account_ids`` and ``created_us`` are the accounts' in row order. With ``before_created``, rows
    before their account's ``created_at`` are set aside.
    """
    has = columns_of(source, table)
    plain = join_on == "t.account_id" and key_type(source, table) == key_type(source, "accounts")
    keys = parquet_log.plan(source, table, config) if plain else None
    if keys is not None:
        n, col, names = _read_keyed_log(source, table, config, keys, account_ids, has)
    else:
        n, names = check_columns(source, table, config, has)
        col = _query_log(source, table, join_on, names, has, n)
    report.rows_read[table] = n
    drop = col["account"] < 0  # unknown accounts; then rows set aside for any reason
    unknown = int(drop.sum())
    report.set_aside[f"{table}: unknown account"] = unknown
    not_all_unknown(table, config, n, unknown)
    if before_created:
        report.set_aside[f"{table}: before the account existed"] = _drop_early(col, created_us, drop, unknown > 0)
    if "quantity" in has:
        # NaN or inf would turn every window sum it reaches into NaN/inf (see rollup.ExactSums)
        report.set_aside[f"{table}: non-finite quantity"] = _drop_non_finite(col["quantity"], drop)
    if keeps_repeats(config.duplicates, col["ts"]):
        # dates without a time of day: two identical rows are two actions on one day, not a double export
        report.notes.append(f"{table}: timestamps carry dates only (day resolution): repeated rows are counted as "
                            f"separate actions, not set aside as duplicates")
    else:
        report.set_aside[f"{table}: exact duplicates"] = _drop_duplicates(col, drop)
    if drop.any():
        _compact_columns(col, np.logical_not(drop, out=drop))
    return EventLog(col["account"], col["kind"], col["ts"], tuple(name for name, _ in names), col.get("user_hash"),
                    col.get("quantity"))


# The _drop_* steps mark the rows they set aside in ``drop``, in place (one mask for a log of tens of millions
# of rows), and return how many rows they add to it.

def _drop_early(col: dict[str, np.ndarray], created_us: np.ndarray, drop: np.ndarray, any_unknown: bool) -> int:
    """Rows before their account existed (rows of unknown accounts, already in ``drop``, are not counted)."""
    n = len(drop)
    early = np.zeros(n, dtype=bool)
    for lo in range(0, n, CHUNK):  # the owners' created_at a chunk at a time (8 bytes a row otherwise)
        account, gone = col["account"][lo:lo + CHUNK], drop[lo:lo + CHUNK]
        owner = np.where(gone, 0, account) if any_unknown else account
        early[lo:lo + CHUNK] = (col["ts"][lo:lo + CHUNK] < created_us[owner]) & ~gone
    count = int(early.sum())
    np.logical_or(drop, early, out=drop)
    return count


def _drop_non_finite(quantity: np.ndarray, drop: np.ndarray) -> int:
    """Rows whose quantity is NaN or infinite (those already in ``drop`` are not counted)."""
    bad = np.isfinite(quantity)
    np.logical_not(bad, out=bad)
    count = int(bad.sum()) - int(np.count_nonzero(bad & drop))
    np.logical_or(drop, bad, out=drop)
    return count


def _drop_duplicates(col: dict[str, np.ndarray], drop: np.ndarray) -> int:
    """Rows that repeat an earlier row exactly; rows already set aside are no duplicates of anything
    (skipped, not copied out)."""
    columns = [col[name] for name in ("account", "kind", "ts", "user_hash", "quantity") if name in col]
    dups = duplicate_rows(None, columns, skip=drop if drop.any() else None)
    count = int(dups.sum())
    np.logical_or(drop, dups, out=drop)
    return count


def _compact_columns(col: dict[str, np.ndarray], keep: np.ndarray) -> None:
    """Every column of ``col`` cut to the rows of ``keep``: a column per thread, each compacted over itself."""
    def compact(name: str) -> None:
        col[name] = _compact(col[name], keep)

    with ThreadPoolExecutor(min(THREADS, 2)) as pool:
        list(pool.map(compact, list(col)))


def _compact(column: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``column[keep]`` written over ``column`` itself a chunk at a time (kept rows only move towards the
    start: nothing unread is overwritten), so no second copy of the column exists; returns the kept
    prefix (a view; copied when more than 1/16 of the rows went, so that their memory goes too)."""
    pos = 0
    for lo in range(0, len(column), CHUNK):
        part = column[lo:lo + CHUNK][keep[lo:lo + CHUNK]]
        column[pos:pos + len(part)] = part
        pos += len(part)
    return column[:pos].copy() if 16 * (len(column) - pos) > len(column) else column[:pos]



# users are counted by a 64-bit hash of their id (0: no user), the same on both read paths
_USER_HASH = "CASE WHEN t.user_id IS NULL THEN 0 ELSE hash(t.user_id) END AS user_hash"


def _read_keyed_log(source: Source, table: str, config: DataConfig, keys: parquet_log.Plan, account_ids: pd.Series,
                    has: set[str]) -> tuple[int, dict[str, np.ndarray], list[tuple[str, int]]]:
    """What :func:`check_columns` and :func:`_query_log` return, with the account ids and names coded from
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
            coded, nulls, names, col = parquet_log.read_keys(keys, key_array(account_ids))
        finally:
            fetched = fetching.result()  # the connection is free again before anything is raised
    if coded != n or len(fetched["ts"]) != n:
        raise RuntimeError(f"{table}: the files hold {n:,} rows, Arrow read {coded:,}, the view {len(fetched['ts']):,}")
    col.update(fetched)
    got = {"rows": n, "null_id": nulls["account_id"], "null_key": nulls["name"], "null_time": 0, "bad_time": 0}
    raise_on_checks(source, table, config, got)
    if missing.get("ts") or missing.get("quantity"):
        # a null timestamp or quantity is missing or unreadable: the view's counts tell which
        checks = column_checks(table, has)
        values = source.con.execute(f"SELECT {', '.join(checks.values())} FROM canon_{table}").fetchall()[0]
        raise_on_checks(source, table, config, dict(zip(checks, map(int, values))))
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
