"""What both engines do with buckets of accounts (a hash of the account id; see :mod:`engines.spark.kernel`):
the driver's tables and load report put together from the buckets' results, their planning statistics added up,
and their frames gathered in the local builder's order. Plain pandas/numpy: the Spark engine and the local
engine's bounded-memory path (:mod:`engines.local_buckets`) share them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.asof import merged_history
from features.config import TABLES, DataConfig
from features.errors import PipelineError
from features.tables import EventLog, LoadReport, Tables


class PipelineFailure(PipelineError):
    """A bucket's PipelineError, re-raised on the driver with its message and exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def first_error(metas: list[tuple[int, dict]]) -> PipelineFailure | None:
    """The error the local loader would raise first: by table (accounts, events, conversions, touches)."""
    errors = [m["error"] for _, m in metas if m["error"]]
    if not errors:
        return None

    def order(error: tuple[str, int]) -> int:
        return next((i for i, t in enumerate(TABLES) if error[0].startswith(f"table '{t}'")), len(TABLES))

    message, code = min(errors, key=order)
    return PipelineFailure(message, code)


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


def collect_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The buckets' frames as one, ordered by as-of then account id (as the local builder orders them)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0] if frames else pd.DataFrame()
    out = pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]
    return out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)

