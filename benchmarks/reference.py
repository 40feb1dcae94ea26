"""Yardsticks measured in the same run as the product, so a figure means something on a shared machine.

* :func:`window_counts` -- the features a plain single pass computes, for every eligible account at
  every snapshot: per event type and in total, the events in ``[t - w days, t)`` for each window ``w``
  (12 event types x 3 windows + 3 totals = 39 columns on the demo world). One compiled pass (numba)
  over all events per snapshot -- the rescan the product's shared sweep has to beat -- or, without
  numba, the same in vectorised numpy.
* :func:`parquet_read` -- reading the events Parquet file(s) into memory with pyarrow, nothing else.
* :func:`bare_lightgbm` -- ``lightgbm.train`` on the training frame with the model config's parameters.

Not part of the product (numba is a benchmark requirement only: benchmarks/requirements.txt).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DAY_US = 86_400 * 1_000_000

try:  # the compiled yardstick; the numpy one stands in without numba
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None


def _numpy_pass(account, kind, ts, row_of, t, windows_us, n_rows, n_kinds):
    out = np.zeros((n_rows, len(windows_us), n_kinds), dtype=np.int32)
    row = row_of[account]
    for j, w in enumerate(windows_us):
        hit = (ts < t) & (ts >= t - w) & (row >= 0)
        out[:, j, :] = np.bincount(row[hit].astype(np.int64) * n_kinds + kind[hit],
                                   minlength=n_rows * n_kinds).reshape(n_rows, n_kinds)
    return out


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def _compiled_pass(account, kind, ts, row_of, t, windows_us, n_rows, n_kinds):  # pragma: no cover
        out = np.zeros((n_rows, len(windows_us), n_kinds), dtype=np.int32)
        for e in range(len(ts)):
            r = row_of[account[e]]
            if r < 0 or ts[e] >= t:
                continue
            age = t - ts[e]
            for j in range(len(windows_us)):
                if age <= windows_us[j]:
                    out[r, j, kind[e]] += 1
        return out
else:  # pragma: no cover
    _compiled_pass = None


def engine() -> str:
    return f"numba {numba.__version__} single pass per snapshot" if numba is not None else \
        "numpy pass per snapshot (numba not installed)"


def warm_up() -> None:
    """Compile (or load the cached compilation) outside any timing."""
    if _compiled_pass is not None:
        z = np.zeros(1, np.int64)
        for kind in (np.int16, np.int32):  # the product's event codes: 2 bytes while names fit, else 4
            _compiled_pass(np.zeros(1, np.int32), np.zeros(1, kind), z, np.zeros(1, np.int32), 1,
                           np.ones(1, np.int64), 1, 1)


def window_counts(events, created_us, converted_us, as_of_us, windows) -> tuple[list[np.ndarray], float]:
    """Per snapshot: (eligible accounts, windows, kinds) counts; and the seconds the passes took.

    ``events`` has ``account``, ``kind``, ``ts`` (the product's validated EventLog, so both read the
    same rows); eligibility is the contract's (created before t, not converted before t).
    """
    windows_us = np.array([int(w) * DAY_US for w in windows], dtype=np.int64)
    n_kinds = len(events.names)
    out = []
    started = time.perf_counter()
    for t in as_of_us:
        eligible = np.flatnonzero((created_us < t) & (converted_us >= t))
        row_of = np.full(len(created_us), -1, dtype=np.int32)
        row_of[eligible] = np.arange(len(eligible), dtype=np.int32)
        # a window [t - w, t) holds ts with t - ts <= w and ts < t
        run = _compiled_pass if _compiled_pass is not None else _numpy_pass
        out.append(run(events.account, events.kind, events.ts, row_of, int(t), windows_us, len(eligible), n_kinds))
    return out, time.perf_counter() - started


def check_equal(frame, counts: list[np.ndarray], as_of_us, names: tuple[str, ...], windows) -> int:
    """Compare the product's count columns with the reference's; returns how many columns were compared."""
    from features import naming as nm

    slugs = nm.unique_slugs(list(names))
    as_of = frame["as_of"].to_numpy().view("int64")
    compared = set()
    for t, block in zip(as_of_us, counts):
        rows = frame.loc[as_of == int(t)]
        for j, w in enumerate(windows):
            total = rows[nm.count_name(nm.ALL_EVENTS, w)].to_numpy()
            if not np.array_equal(total, block[:, j, :].sum(axis=1)):
                raise SystemExit(f"reference and product differ: {nm.count_name(nm.ALL_EVENTS, w)} at {t}")
            compared.add(nm.count_name(nm.ALL_EVENTS, w))
            for k, slug in enumerate(slugs):
                col = nm.count_name(slug, w)
                if col in rows:
                    if not np.array_equal(rows[col].to_numpy(), block[:, j, k]):
                        raise SystemExit(f"reference and product differ: {col} at {t}")
                    compared.add(col)
    return len(compared)


def parquet_read(folder: Path) -> tuple[int, float]:
    """Rows and seconds of reading the events table's Parquet file(s) with pyarrow (all columns)."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    single = folder / "events.parquet"
    files = [single] if single.exists() else sorted((folder / "events").glob("*.parquet"))
    started = time.perf_counter()
    rows = sum(pq.read_table(f).num_rows for f in files)
    return rows, time.perf_counter() - started


def bare_lightgbm(X, y, params: dict, rounds: int) -> float:
    """Seconds of ``lightgbm.train`` for ``rounds`` rounds on (X, y), no validation set, no callbacks."""
    import lightgbm as lgb

    started = time.perf_counter()
    lgb.train({**params, "verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=rounds)
    return time.perf_counter() - started
