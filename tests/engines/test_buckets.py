"""What both engines do with buckets (engines.buckets): the one hash that puts an account in its bucket -- the same
bucket whatever the id's type (``12``, ``12.0``, ``'12'``), whether the ids come plain, chunked or as a Parquet
dictionary, in any batch -- and the first bucket error in the local loader's order."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from engines.bucket_kernel import BucketError
from engines.buckets import PipelineFailure, buckets_of, id_text
from features.errors import DataError


def test_an_id_has_one_bucket_whatever_its_type_or_batch() -> None:
    text = buckets_of(pa.array(["12", "7", "abc", None]), 16)
    assert (buckets_of(pa.array([12, 7]), 16) == text[:2]).all()
    assert (buckets_of(pa.array([12.0, 7.0]), 16) == text[:2]).all()  # whole-number floats as integers
    assert (buckets_of(pa.array(["12", "7"]).dictionary_encode(), 16) == text[:2]).all()  # a Parquet dictionary
    assert (buckets_of(pa.chunked_array([["12"], ["7"]]), 16) == text[:2]).all()
    assert buckets_of(pa.array(["7", "x", "12"]), 16)[[0, 2]].tolist() == text[[1, 0]].tolist()
    assert text[3] == 0  # a null id: bucket 0 (the loader reports it)
    ids = pa.array([f"acc{i}" for i in range(4000)])
    assert np.bincount(buckets_of(ids, 8), minlength=8).min() > 350  # a hash, not a few hot buckets
    assert (buckets_of(ids, 8) == buckets_of(ids, 8)).all()


def test_buckets_are_16_bit_keys_while_they_fit() -> None:
    ids = pa.array([f"acc{i}" for i in range(100)])
    assert buckets_of(ids, 8).dtype == np.int16 and buckets_of(ids, 40_000).dtype == np.int32
    assert buckets_of(ids, 40_000).max() < 40_000


def test_id_text_writes_numbers_as_the_loader_matches_them() -> None:
    assert id_text(pa.array([12.0, 2.5, None, float("inf")])).to_pylist() == ["12", "2.5", None, "inf"]
    assert id_text(pa.array([3, None], pa.int64())).to_pylist() == ["3", None]


def test_id_text_of_a_type_arrow_cannot_cast_is_pythons_text() -> None:
    # a list: Arrow has no cast of it to string, so each id's text is Python's text of it
    assert id_text(pa.array([[1, 2], None, [3]])).to_pylist() == ["[1, 2]", None, "[3]"]


def test_frames_put_together_in_threads_equal_pandas_own_concatenation() -> None:
    from engines.buckets import collect_frames

    rng = np.random.default_rng(3)
    frames = []
    for b in range(4):
        n = int(rng.integers(0, 40))
        frames.append(pd.DataFrame({
            "as_of": pd.to_datetime(rng.choice(["2024-01-01", "2024-01-08"], n)),
            "account_id": [f"a{b}-{i}" for i in rng.permutation(n)], "x": rng.random(n).astype("float32"),
            "k": pd.array(rng.choice(["p", "q", None], n), dtype="string"), "n": rng.integers(0, 9, n)}))
    want = collect_frames(frames)
    pd.testing.assert_frame_equal(collect_frames(frames, threads=3), want)
    assert want["as_of"].is_monotonic_increasing and len(want) == sum(len(f) for f in frames)
    odd = [frames[0], frames[1].assign(x=frames[1]["x"].astype("float64"))]  # types differ: pandas' rules
    pd.testing.assert_frame_equal(collect_frames(odd, threads=3), collect_frames(odd))
