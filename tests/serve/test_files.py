"""Several files replaced together (serve.files): all written before any is renamed; a failure changes none."""
from __future__ import annotations

import pandas as pd
import pytest

from serve import files
from serve.files import Staged, replace_together


def test_every_file_is_written_then_renamed_a_copy_shares_the_bytes(tmp_path):
    a, b, c = tmp_path / "a.parquet", tmp_path / "kept" / "b.parquet", tmp_path / "c.csv"
    frame = pd.DataFrame({"x": [1, 2]})
    assert replace_together([Staged(b, frame), Staged(a, same_as=b), Staged(c, frame)], 0o640) == [b, a, c]
    assert a.read_bytes() == b.read_bytes() and pd.read_csv(c).equals(frame)
    assert {p.stat().st_mode & 0o777 for p in (a, b, c)} == {0o640}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.parquet", "b.parquet", "c.csv", "kept"]


def test_a_failure_writing_any_file_leaves_every_target_and_no_trace(tmp_path, monkeypatch):
    old = tmp_path / "a.parquet"
    pd.DataFrame({"x": [0]}).to_parquet(old)
    before = old.read_bytes()

    def fail(frame, path, suffix):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_frame", fail)
    with pytest.raises(OSError, match="a.parquet"):  # the target named, not the temporary file
        replace_together([Staged(old, pd.DataFrame({"x": [1]})), Staged(tmp_path / "new" / "b.csv", None)], 0o644)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.parquet"]

    calls = []

    def second_fails(frame, path, suffix):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("killed")
        frame.to_parquet(path)

    monkeypatch.setattr(files, "write_frame", second_fails)
    with pytest.raises(RuntimeError, match="killed"):
        replace_together([Staged(old, pd.DataFrame({"x": [1]})), Staged(tmp_path / "new" / "b.parquet",
                                                                         pd.DataFrame({"x": [2]}))], 0o644)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.parquet"]
