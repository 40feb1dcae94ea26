"""What both engines do with buckets of accounts: the bucket of an account id, the driver's tables and load
report put together from the buckets' results, their planning statistics added up, and their frames gathered in
the local builder's order. Plain Arrow/pandas/numpy: the Spark engine and the local engine's bounded-memory path
(:mod:`engines.local_buckets`) share them.

The bucket of a row is a hash of its account id's plain text (whole-number floats as integers, so ``12``,
``12.0`` and ``'12'`` land together, as the local loader matches them). Each distinct id of a batch is hashed
once (``pandas.util.hash_array``: SipHash with a fixed key, so every process and executor agrees); the rows take
their bucket by dictionary index.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.asof import merged_history
from features.config import TABLES, DataConfig
from features.errors import PipelineError
from features.tables import EventLog, LoadReport, Tables


def id_text(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The plain text of account ids (nulls stay null): numbers as their digits, whole-number floats as integers."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    kind = ids.type.value_type if pa.types.is_dictionary(ids.type) else ids.type
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(kind)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = ids.cast(pa.float64())
        whole = pc.and_(pc.is_finite(values), pc.equal(values, pc.floor(values)))
        as_int = pc.cast(pc.if_else(whole, values, 0.0), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(values, pa.string()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return ids.cast(pa.string())
    try:
        return pc.cast(ids, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a type Arrow cannot print: Python's text of it
        return pa.array([None if v is None else str(v) for v in ids.to_pylist()], pa.string())


def buckets_of(ids: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """The bucket (0 .. n-1) of each account id, hashed once per distinct id (a Parquet dictionary as read, else
    Arrow's encoding of ``ids``); a null id goes to bucket 0 (its loader reports it). 16-bit when ``n`` allows
    (numpy sorts 16-bit keys by radix)."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    coded = ids if pa.types.is_dictionary(ids.type) else pc.dictionary_encode(ids)
    distinct = id_text(coded.dictionary).to_numpy(zero_copy_only=False).astype(object)
    kind = np.int16 if n <= np.iinfo(np.int16).max else np.int32
    per_id = (pd.util.hash_array(distinct, categorize=False) % np.uint64(n)).astype(kind)
    codes = coded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    return np.append(per_id, kind(0))[codes]


class PipelineFailure(PipelineError):
    """A bucket's PipelineError, re-raised on the driver with its message and exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def assemble(metas: list[tuple[int, dict]], data: DataConfig, description: str) -> tuple[Tables, LoadReport]:
    """The driver's tables and the load report, from the buckets' results (the caller has raised their errors,
    each engine as its loader words them); whole-table checks."""
    from features.data.checks import not_all_unknown  # the local loader's own whole-table rules
    from features.data.validate import check_strict, note_outliers

    report = LoadReport(description)
    for table in TABLES:
        total = sum(m["report"].rows_read.get(table, 0) for _, m in metas)
        if any(table in m["report"].rows_read for _, m in metas):
            report.rows_read[table] = total
    for _, m in metas:
        for key, value in m["report"].set_aside.items():
            report.set_aside[key] = report.set_aside.get(key, 0) + value
    for table in ("events", "conversions", "touches"):
        if table in report.rows_read:
            not_all_unknown(table, data, report.rows_read[table], report.set_aside.get(f"{table}: unknown account", 0))
    check_strict(report, data.strict)
    parts = [m for _, m in metas if "accounts" in m]
    if len(parts) < len(metas):  # a bucket's only problem was its sentinel's, so another bucket must have failed
        raise RuntimeError("a bucket of accounts failed to load without an error")
    accounts = pd.concat([m["accounts"] for m in parts], ignore_index=True)
    created = np.concatenate([m["created_us"] for m in parts])
    converted = np.concatenate([m["converted_us"] for m in parts])
    order = accounts["account_id"].sort_values(kind="stable").index.to_numpy()
    accounts = accounts.iloc[order].reset_index(drop=True)
    created, converted = created[order], converted[order]
    # buckets without conversions hold empty frames of untyped columns: they would turn the ids to object
    conversions = pd.concat([m["conversions"] for m in parts if len(m["conversions"])] or [parts[0]["conversions"]],
                            ignore_index=True)
    if len(conversions):
        conversions = conversions.sort_values(["account_id", "converted_at"], kind="stable").reset_index(drop=True)
    notes: list[str] = []
    for _, m in metas:
        notes += [n for n in m["report"].notes if n not in notes]
    dated = [n for n in notes if n.startswith("accounts column")]
    report.notes = dated
    note_outliers(created, report)
    report.notes += [n for n in notes if n not in dated]
    ends = [m["data_end_us"] for m in parts]
    history = merged_history([m.get("attributes") for m in parts], [len(m["accounts"]) for m in parts], order)
    fit_columns = tuple(c for c in parts[0]["fit_columns"] if c in accounts.columns)
    fit_columns += tuple(n for n in (history.names if history else ()) if n not in fit_columns)
    tables = Tables(accounts=accounts, created_us=created, converted_us=converted, events=EventLog.empty(),
                    touches=None, fit_columns=fit_columns, data_end_us=int(max(ends)),
                    conversions=conversions, users=parts[0].get("users"), attributes=history)
    return tables, report


def summed_reach(parts: list[pd.DataFrame], by: str | list[str]) -> pd.DataFrame:
    """Reach summaries (of buckets, or of days) added up per ``by``: their rows summed, the quantity varying
    where it varies in any of them."""
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(by, sort=True).agg(n=("n", "sum"), varies=("varies", "any")).reset_index()


def sum_reach(metas: list[tuple[int, dict]]) -> dict[str, pd.DataFrame]:
    """Per log: the buckets' reachable rows per (kind, day), added up."""
    out = {}
    for name in ("events", "touches"):
        parts = [m["reach"][name] for _, m in metas if name in m.get("reach", {})]
        if parts:
            out[name] = summed_reach(parts, ["kind", "day"])
    return out


def sum_reach_at(metas: list[tuple[int, dict]]) -> dict[str, dict[int, pd.DataFrame]]:
    """Per log and per instant asked for while loading: the buckets' reachable rows per kind, added up."""
    out: dict[str, dict[int, pd.DataFrame]] = {}
    for name in ("events", "touches"):
        instants = {t for _, m in metas for t in m.get("reach_at", {}).get(name, {})}
        for t in instants:
            parts = [m["reach_at"][name][t] for _, m in metas if t in m.get("reach_at", {}).get(name, {})]
            out.setdefault(name, {})[t] = summed_reach(parts, "kind")
    return out


def names_of(metas: list[tuple[int, dict]]) -> dict[str, tuple[str, ...]]:
    """Per log: the event (touch) types of every bucket, in order of first appearance."""
    out: dict[str, list[str]] = {}
    for _, m in metas:
        for name, kinds in m.get("names", {}).items():
            seen = out.setdefault(name, [])
            seen += [k for k in kinds if k not in seen]
    return {k: tuple(v) for k, v in out.items()}


def collect_frames(frames: list[pd.DataFrame], threads: int = 1) -> pd.DataFrame:
    """The buckets' frames as one, ordered by as-of then account id (as the local builder orders them).
    ``threads``: columns put together at once (numpy concatenates and takes without the GIL), when every frame
    has the same columns and types; otherwise pandas' own concatenation and sort."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0] if frames else pd.DataFrame()
    if len(full) == 1 or threads <= 1 or any(not f.dtypes.equals(full[0].dtypes) for f in full):
        out = pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]
        return out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)
    keys = pd.concat([f[["as_of", "account_id"]] for f in full], ignore_index=True)
    order = keys.sort_values(["as_of", "account_id"], kind="stable").index.to_numpy()

    def column(name: str) -> object:
        if isinstance(full[0].dtypes[name], np.dtype):
            return np.concatenate([f[name].to_numpy() for f in full]).take(order)
        return pd.concat([f[name] for f in full], ignore_index=True).take(order).reset_index(drop=True)

    with ThreadPoolExecutor(threads) as pool:
        columns = dict(zip(full[0].columns, pool.map(column, full[0].columns)))
    return pd.DataFrame(columns, copy=False)
