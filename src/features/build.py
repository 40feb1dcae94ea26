"""The one function that makes the feature table, for training (many snapshots) and scoring (one).

The columns come from a spec (:func:`features.plan.plan_features`, or the one saved with a model);
``build_features`` computes them for every eligible account at every as-of, in one shared pass per
time of day over the events (:class:`features.sweep.block.Sweep`), each feature family computing its own
(:mod:`features.families`). Every value at ``t`` reads only rows before ``t``.
"""
from __future__ import annotations

from contextlib import nullcontext
from collections.abc import MutableMapping
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features import asof
from features.errors import DataError
from features.families import fit
from features.snapshots import eligible, labels
from features.spec import FeatureSpec
from features.sweep.block import Sweep
from features.tables import Tables
from features.windows import DAY_US, from_us, instant_us

_OUTPUT_COLUMNS = frozenset({"account_id", "as_of", "label"})  # beside the features in the tables built here


def build_features(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, progress: bool = False,
                   max_age_us: int | None = None) -> pd.DataFrame:
    """The feature table: one row per eligible account per as-of: ``account_id``, ``as_of``, then the
    spec's columns in order. Rows are ordered by as-of, then by account id. ``max_age_us``: only the
    accounts created at most that long before each as-of (first looks, :func:`features.snapshots.first_looks`)."""
    return _build(tables, as_of, spec, progress, max_age_us)[0]


def _build(tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
           progress: bool, max_age_us: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`build_features` and each row's position in ``tables.accounts`` (its account number)."""
    instants = np.array(sorted({instant_us(t) for t in as_of}), dtype=np.int64)
    clash = [name for name in spec.names if name in _OUTPUT_COLUMNS]
    if clash:
        raise DataError("accounts", clash[0], f"has the name of a column the pipeline writes ({sorted(_OUTPUT_COLUMNS)});"
                                              f" rename it in the data or list it in features.exclude_columns")
    groups = [instants[instants % DAY_US == offset] for offset in np.unique(instants % DAY_US)]
    if not len(instants):
        fit.values_of(tables, spec)  # a missing fit attribute is an error whatever the as-of
        return _empty(spec), np.empty(0, dtype=np.int64)
    # Every column is allocated once at its final length and filled snapshot by snapshot: no per-snapshot
    # frames to concatenate (which held the whole table twice).
    sizes = [[len(eligible(tables, int(t), max_age_us)) for t in group] for group in groups]
    n_rows = sum(map(sum, sizes))
    account_rows = np.empty(n_rows, dtype=np.int64)
    generated = [col.name for col in spec.columns if col.group != "fit"]
    columns: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(instants) + 4 * len(groups), desc="features", unit="step",
               disable=None, leave=False) if progress else nullcontext()
    with bar:
        step = (lambda stage: (bar.set_postfix_str(stage), bar.update(1))) if progress else (lambda stage: None)
        fit_values = fit.values_of(tables, spec)
        start = 0
        for group, counts in zip(groups, sizes):
            block = Sweep(tables, spec, group, step, max_age_us)
            starts = start + np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            def sink(i: int) -> _Rows:
                return _Rows(columns, generated, int(starts[i]), int(starts[i + 1]), n_rows)

            for i, _ in block.snapshots(sink):
                account_rows[int(starts[i]):int(starts[i + 1])] = block.rows[i]
                step(f"as of {from_us([group[i]])[0]:%Y-%m-%d}")
            start = int(starts[-1])
            del block
    as_of_us = np.repeat(np.concatenate(groups), np.concatenate(sizes).astype(np.int64))
    data: dict[str, object] = {
        # taken from the column as it is (Arrow strings): no Python string object per row
        "account_id": tables.accounts["account_id"].array.take(account_rows),
        "as_of": as_of_us.astype("datetime64[us]"),
    }
    as_they_were = asof.fit_values(tables, spec, fit_values, account_rows, as_of_us)  # attributes with a history
    for col in spec.columns:
        data[col.name] = (columns[col.name] if col.group != "fit" else as_they_were[col.name]
                          if col.name in as_they_were else fit_values[col.name][account_rows])
    return pd.DataFrame(data, copy=False), account_rows


class _Rows(MutableMapping):
    """One snapshot's rows ``lo:hi`` of the output columns: a column is written there as soon as it is
    computed, so a snapshot's features are never all held twice (at 100 M events, ~300 MiB less peak).
    Values that are not output columns (intermediates read back by later features) are kept aside."""

    def __init__(self, columns: dict[str, np.ndarray], names: Sequence[str], lo: int, hi: int, n_rows: int) -> None:
        self.columns, self.names, self.lo, self.hi, self.n_rows = columns, frozenset(names), lo, hi, n_rows
        self.aside: dict[str, np.ndarray] = {}

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        if name in self.names:
            _put(self.columns, name, np.asarray(values), self.lo, self.hi, self.n_rows)
            self.aside.pop(name, None)
        else:
            self.aside[name] = values

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.aside:
            return self.aside[name]
        if name in self.names and name in self.columns:
            return self.columns[name][self.lo:self.hi]
        raise KeyError(name)

    def __delitem__(self, name: str) -> None:
        raise TypeError("written output rows are not deleted")

    def __iter__(self):
        return iter([*(n for n in self.names if n in self.columns), *self.aside])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _put(columns: dict[str, np.ndarray], name: str, values: np.ndarray, lo: int, hi: int, n_rows: int) -> None:
    """Write one snapshot's values of a column into its full-length array (allocated on first use; widened,
    as a concatenation would, should a later snapshot bring a wider type)."""
    column = columns.get(name)
    if column is None:
        column = columns[name] = np.empty(n_rows, dtype=values.dtype)
    elif column.dtype != values.dtype:
        column = columns[name] = column.astype(np.result_type(column.dtype, values.dtype))
    column[lo:hi] = values


def _empty(spec: FeatureSpec) -> pd.DataFrame:
    """The feature table with no rows: the spec's columns, typed."""
    data = {"account_id": pd.Series([], dtype="object"), "as_of": pd.Series([], dtype="datetime64[us]")}
    for col in spec.columns:
        data[col.name] = (pd.Categorical([], categories=list(col.categories or ())) if col.is_categorical
                          else pd.Series([], dtype="float64"))
    return pd.DataFrame(data)


def build_training_table(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                         progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
    """The feature table plus ``label`` (converts in ``[t, t + horizon)``) for labelled snapshots.

    Callers pass only snapshots whose horizon is over (see :func:`features.snapshots.is_labelled`).
    """
    frame, account_row = _build(tables, as_of, spec, progress, max_age_us)  # rows known: no lookup of a million ids
    as_of_us = frame["as_of"].to_numpy().view("int64")
    label = labels(tables, account_row, as_of_us, horizon_days)
    # concat, not assign: the frame is one block per column (no consolidating copy), where an insert warns
    return pd.concat([frame, pd.Series(label, index=frame.index, name="label")], axis=1)

