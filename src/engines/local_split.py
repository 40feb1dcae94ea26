"""Loading a source bigger than the memory budget, one bucket of accounts at a time, on this machine.

1. The source is opened and mapped as the local loader does (missing tables and columns fail here, whole).
2. One streaming pass of DuckDB writes every table's rows to a spill folder, partitioned by the bucket of their
   account id (a hash of its plain text, as the Spark engine buckets: ``12``, ``12.0`` and ``'12'`` together).
3. Each bucket is read back and validated by the local loader itself, with a sentinel account
   (:func:`engines.spark.kernel.validate_bucket`); its validated tables are kept on disk, its load report and
   planning statistics in memory; the driver adds them up (:func:`engines.buckets.assemble`).

Whole-table decisions are made on the whole source: ``data.duplicates=auto`` (day resolution) before the
buckets, ``data.strict`` and "none of its rows is known" on the summed counts. When a bucket fails, the
error is made again by the loader's own checks over the whole source (streaming DuckDB aggregates), so its
count and examples are those of the in-memory path.
"""
from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from features.config import TABLES, TIME_COLUMN, DataConfig
from features.data.checks import check_columns, columns_of
from features.data.keys import read_accounts, register_keys
from features.data.sources import Source
from features.data.sql import path_literal, quote
from features.errors import DataError
from features.tables import LoadReport, Tables

from engines.buckets import assemble, first_error
from engines.spark import kernel

BUCKET = "_pql_bucket"
DAY_RESOLUTION_MIN_ROWS = 1000  # as features.data.duplicates.keeps_repeats


def bucket_sql(column: str, dtype: str, n: int) -> str:
    """DuckDB SQL of the bucket (0 .. n-1) of an account id column: a hash of its plain text, whole-number
    floats written as integers."""
    c = quote(column)
    if dtype.upper().split("(")[0] in ("FLOAT", "DOUBLE", "REAL", "DECIMAL"):
        text = f"CASE WHEN {c} = floor({c}) THEN CAST(CAST({c} AS HUGEINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
    else:
        text = f"CAST({c} AS VARCHAR)"
    return f"CAST(hash({text}) % {int(n)} AS INTEGER)"


def split(source: Source, config: DataConfig, n: int, folder: Path) -> None:
    """Every table of the source written to ``folder/<table>/_pql_bucket=<b>/`` (Parquet), in one pass each."""
    for table in TABLES:
        if table not in source.tables:
            continue
        column = kernel.id_column(config, table)
        dtype = source.columns(table)[column]
        source.con.execute(f"COPY (SELECT *, {bucket_sql(column, dtype, n)} AS {BUCKET} FROM {quote('raw_' + table)})"
                           f" TO {path_literal(folder / table)} (FORMAT parquet, PARTITION_BY ({BUCKET}), "
                           f"COMPRESSION snappy)").fetchall()


def heads(source: Source, rows: int) -> dict[str, pd.DataFrame]:
    """The first ``rows`` rows of every table (0: the empty, typed frames of buckets without rows)."""
    return {t: source.con.sql(f"SELECT * FROM {quote('raw_' + t)} LIMIT {int(rows)}").to_arrow_table().to_pandas()
            for t in TABLES if t in source.tables}


def read_bucket(source: Source, folder: Path, b: int, empty: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The raw rows of bucket ``b`` of every table (an empty frame where a table has none)."""
    frames = {}
    for table, head in empty.items():
        part = folder / table / f"{BUCKET}={b}"
        files = sorted(part.glob("*.parquet")) if part.is_dir() else []
        if not files:
            frames[table] = head
            continue
        paths = ", ".join(path_literal(f) for f in files)
        query = f"SELECT * FROM read_parquet([{paths}], hive_partitioning = false)"  # not the folder name as a column
        frames[table] = source.con.sql(query).to_arrow_table().to_pandas()
    return frames


def duplicates_setting(source: Source, config: DataConfig, table: str) -> str:
    """``data.duplicates`` decided over the whole table as the local loader decides it: ``auto`` keeps repeated
    rows when every timestamp is a date (00:00 UTC) in a table of at least 1,000 rows."""
    if config.duplicates != "auto":
        return config.duplicates
    ts = quote(TIME_COLUMN[table])
    n, off = source.con.execute(f"SELECT count(*), count(*) FILTER (WHERE {ts} IS NOT NULL AND "
                                f"{ts} <> date_trunc('day', {ts})) FROM canon_{table}").fetchall()[0]
    return "keep" if n >= DAY_RESOLUTION_MIN_ROWS and not off else "set_aside"


def validate_buckets(source: Source, config: DataConfig, n: int, folder: Path, instants: Sequence[int]
                     ) -> list[tuple[int, dict]]:
    """Each bucket validated by the local loader; its tables pickled to ``folder/validated/<b>.pkl``; per bucket
    what the driver needs (report, error, planning statistics, the driver's tables)."""
    empty, anchors = heads(source, 0), heads(source, 1)
    dup = {t: duplicates_setting(source, config, t) for t in ("events", "touches") if t in source.tables}
    events_config = replace(config, duplicates=dup["events"])
    (folder / "validated").mkdir(exist_ok=True)
    metas = []
    for b in range(n):
        frames = read_bucket(source, folder, b, empty)
        frames.setdefault("touches", None)
        result = kernel.validate_bucket(frames, anchors, events_config, dup.get("touches"), instants)
        del frames
        with open(folder / "validated" / f"{b}.pkl", "wb") as handle:
            pickle.dump(result.tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
        metas.append((b, _meta(result)))
    return metas


def _meta(result: kernel.BucketResult) -> dict:
    """What the driver keeps of a validated bucket (as the Spark engine's buckets report it)."""
    meta = {"report": result.report, "error": result.error, "reach": result.reach, "reach_at": result.reach_at}
    t = result.tables
    if t is not None:
        meta.update(accounts=t.accounts, created_us=t.created_us, converted_us=t.converted_us,
                    conversions=t.conversions, fit_columns=t.fit_columns, data_end_us=t.data_end_us,
                    names={k: getattr(t, k).names for k in ("events", "touches") if getattr(t, k) is not None},
                    has_user=t.events.user is not None, has_quantity=t.events.quantity is not None,
                    n_accounts=t.n_accounts)
    return meta


def whole_table_error(source: Source, config: DataConfig, fit: list[str]) -> None:
    """Raise the first error the local loader's checks find over the whole source (accounts, keys, then each
    log's columns), as the in-memory path raises it; nothing when they all pass. ``fit``: the accounts' fit
    columns (:func:`features.data.mapping.canonical_views`)."""
    report = LoadReport(source.description)
    accounts = read_accounts(source, config, fit, report)
    logs = ["events", "conversions"] + (["touches"] if "touches" in source.tables else [])
    register_keys(source, ["accounts", *logs], config, report, accounts["account_id"])
    for table in logs:
        rows, _ = check_columns(source, table, config, columns_of(source, table))
        if table == "events" and rows == 0:
            raise DataError("events", None, "is empty")


def assembled(source: Source, config: DataConfig, fit: list[str], metas: list[tuple[int, dict]]
              ) -> tuple[Tables, LoadReport]:
    """The driver's tables and the summed load report; a bucket's error raised as the whole source gives it."""
    error = first_error(metas)
    if error is not None:
        whole_table_error(source, config, fit)
        raise error
    return assemble(metas, config, source.description)
