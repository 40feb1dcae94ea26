"""Writing tables to files (features.io): atomic writes with the umask's mode, and outputs refused before any work."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ConfigError
from features.io import check_output, write_file

FRAME = pd.DataFrame({"account_id": ["a", "b"], "score": [0.25, 0.5]})


@pytest.mark.parametrize("name", ["out.parquet", "out.csv", "OUT.PARQUET"])
def test_write_file_round_trips_and_leaves_no_temporary_file(tmp_path, name):
    path = write_file(FRAME, tmp_path / "new" / name)
    assert path == tmp_path / "new" / name
    read = pd.read_parquet(path) if name.lower().endswith(".parquet") else pd.read_csv(path)
    pd.testing.assert_frame_equal(read, FRAME)
    assert [p.name for p in path.parent.iterdir()] == [name]


def test_write_file_replaces_the_previous_file_whole(tmp_path):
    path = tmp_path / "out.csv"
    write_file(FRAME, path)
    write_file(FRAME.head(1), path)
    assert len(pd.read_csv(path)) == 1


def test_a_failed_write_keeps_the_previous_file_and_cleans_up(tmp_path, monkeypatch):
    path = write_file(FRAME, tmp_path / "out.parquet")
    before = path.read_bytes()

    def crash(self, *args, **kwargs):
        Path(args[0]).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_file(FRAME, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


@pytest.mark.parametrize("mask, mode", [(0o022, "-rw-r--r--"), (0o077, "-rw-------")])
def test_the_file_mode_follows_the_umask_not_mkstemp(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = write_file(FRAME, tmp_path / "out.csv")
    finally:
        os.umask(old)
    assert stat.filemode(path.stat().st_mode) == mode


def test_write_file_refuses_other_suffixes(tmp_path):
    with pytest.raises(ConfigError, match=r"must end in \.parquet or \.csv"):
        write_file(FRAME, tmp_path / "out.json")
    assert not list(tmp_path.iterdir())


def test_check_output_accepts_a_new_file_in_a_new_folder(tmp_path):
    assert check_output(tmp_path / "a" / "b" / "out.parquet", []) == tmp_path / "a" / "b" / "out.parquet"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_check_output_refuses_folders_suffixes_and_files_as_folders(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        check_output(tmp_path, [])
    with pytest.raises(ConfigError, match=r"must end in \.parquet or \.csv"):
        check_output(tmp_path / "out.txt", [])
    assert check_output(tmp_path / "out.txt", [], formats=None) == tmp_path / "out.txt"
    with pytest.raises(ConfigError, match="'.*file' is a file, not a folder"):
        check_output(tmp_path / "file" / "deeper" / "out.csv", [])


def test_check_output_refuses_an_input_and_anything_inside_an_input_folder(tmp_path):
    table, parts = tmp_path / "events.csv", tmp_path / "touches"
    parts.mkdir()
    for output in (table, parts / "part-9.csv", tmp_path / "." / "events.csv"):
        with pytest.raises(ConfigError, match="input of the data source") as err:
            check_output(output, [table.resolve(), parts.resolve()], key="data.export")
        assert str(err.value).startswith("data.export: ")
    assert check_output(tmp_path / "events2.csv", [table.resolve(), parts.resolve()])


def test_check_output_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(ConfigError, match="is not writable"):
        check_output(tmp_path / "out.csv", [])


def test_write_text_on_a_full_disk_keeps_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    import errno

    from features.io import write_text

    path = write_text("yesterday", tmp_path / "report.html")
    real = Path.write_text

    def full(self, *args, **kwargs):
        real(self, "half", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as info:
        write_text("today", path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    monkeypatch.undo()
    assert path.read_text() == "yesterday" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
