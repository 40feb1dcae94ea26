"""Exact-duplicate detection at scale: the sorted-hash search agrees with pandas, collisions are compared."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.data.duplicates import duplicate_rows, row_hash


def _columns(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    account = rng.integers(0, 50, n).astype(np.int32)
    kind = rng.integers(0, 3, n).astype(np.int32)
    ts = rng.integers(0, 40, n).astype(np.int64)  # few values: many exact repeats
    quantity = rng.choice([1.0, 2.5, -0.0, 0.0], n)
    return [account, kind, ts, quantity]


def test_matches_pandas_duplicated() -> None:
    cols = _columns(20_000, seed=3)
    expected = pd.DataFrame({i: c for i, c in enumerate(cols)}).duplicated(keep="first").to_numpy()
    got = duplicate_rows(row_hash(cols), cols)
    assert expected.sum() > 100
    assert (got == expected).all()


def test_no_duplicates_and_tiny_inputs() -> None:
    cols = [np.arange(1000, dtype=np.int64), np.zeros(1000)]
    assert not duplicate_rows(row_hash(cols), cols).any()
    one = [np.array([1]), np.array([2.0])]
    assert duplicate_rows(row_hash(one), one).tolist() == [False]


def test_a_hash_collision_never_sets_a_row_aside() -> None:
    cols = [np.array([1, 2, 1, 3], dtype=np.int64), np.array([0.5, 0.5, 0.5, 0.5])]
    colliding = np.full(4, 12345, dtype=np.uint64)  # every row shares one hash
    assert duplicate_rows(colliding, cols).tolist() == [False, False, True, False]


def test_hashes_that_agree_only_in_their_top_bits_are_compared_not_merged() -> None:
    cols = [np.array([1, 2, 3, 1], dtype=np.int64), np.array([0.5, 0.5, 0.5, 0.5])]
    near = np.array([8, 9, 10, 8], dtype=np.uint64) << np.uint64(40)  # rows 0-2 share the top bits, low bits differ
    near[1] |= np.uint64(1)
    assert duplicate_rows(near, cols).tolist() == [False, False, False, True]


def test_matches_pandas_duplicated_across_chunks_and_threads() -> None:
    cols = _columns(300_000, seed=4)
    expected = pd.DataFrame({i: c for i, c in enumerate(cols)}).duplicated(keep="first").to_numpy()
    hashes = row_hash(cols, chunk=10_000)  # 30 chunks: hashed by the thread pool
    assert (hashes == row_hash(cols, chunk=1 << 20)).all()
    assert (duplicate_rows(hashes, cols) == expected).all()


def test_row_hash_does_not_depend_on_the_chunk_size() -> None:
    cols = _columns(1000, seed=8)
    assert (row_hash(cols, chunk=7) == row_hash(cols)).all()
    assert (row_hash(cols, chunk=7, numbered=True) == row_hash(cols, numbered=True)).all()
    low = np.uint64(1023)  # 1000 rows: the low 10 bits are the row's number, the rest the hash
    assert ((row_hash(cols, numbered=True) & low) == np.arange(1000)).all()
    assert ((row_hash(cols, numbered=True) & ~low) == (row_hash(cols) & ~low)).all()


def test_numbered_words_give_the_same_rows_as_separate_hashes() -> None:
    cols = _columns(50_000, seed=9)
    assert (duplicate_rows(None, cols) == duplicate_rows(row_hash(cols), cols)).all()
    assert (duplicate_rows(None, cols) == duplicate_rows(row_hash(cols, chunk=1000), cols)).all()


def test_skipped_rows_are_left_out_as_if_they_were_not_there() -> None:
    cols = _columns(40_000, seed=11)
    skip = np.random.default_rng(12).random(40_000) < 0.3
    live = ~skip
    expected = np.zeros(40_000, dtype=bool)
    expected[live] = duplicate_rows(None, [c[live] for c in cols])
    got = duplicate_rows(None, cols, skip=skip, chunk=999)  # neighbours compared over many chunks
    assert expected.sum() > 100 and not got[skip].any()
    assert (got == expected).all()
    assert (duplicate_rows(None, cols, chunk=999) == duplicate_rows(None, cols)).all()


def test_compaction_over_the_column_itself(monkeypatch) -> None:
    from features.data import logs

    monkeypatch.setattr(logs, "CHUNK", 7)  # many chunks: kept rows move across chunk borders
    rng = np.random.default_rng(5)
    for share in (0.01, 0.5):  # a view of the prefix / a copy once many rows went
        column = rng.integers(0, 1000, 1000)
        keep = rng.random(1000) >= share
        expected = column[keep]
        got = logs._compact(column.copy(), keep)
        assert np.array_equal(got, expected) and (got.base is None) == (share == 0.5)
