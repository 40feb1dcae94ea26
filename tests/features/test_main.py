"""python -m features: the command writes one snapshot, or fails with one line, an exit code and no file;
it never writes over one of its inputs.
"""
from __future__ import annotations


import pandas as pd
import pytest

from tests.conftest import error_lines, run_features, tiny_folder

SMALL = ["data.demo.accounts=300", "data.demo.days=150", "data.demo.start=2024-01-01"]


def _run(tmp_path, *args):
    return run_features(tmp_path, *args)


def test_features_command_writes_one_snapshot_and_a_report(tmp_path):
    out = _run(tmp_path, *SMALL, "as_of=2024-05-06", f"output={tmp_path}/f.parquet",
               f"spec_output={tmp_path}/spec.json")
    assert out.returncode == 0, out.stderr
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert list(frame.columns[:3]) == ["account_id", "as_of", "task_created_count_7d"]
    assert (frame["as_of"] == pd.Timestamp("2024-05-06")).all() and frame["account_id"].is_unique
    log = out.stdout + out.stderr
    for part in ("rows read", "rows set aside", "eligible accounts", "features", "time taken"):
        assert part in log
    assert (tmp_path / "spec.json").exists()


def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(tmp_path):
    data = tiny_folder(tmp_path / "data", timestamp="not a date")
    out = _run(tmp_path, f"data.dir={data}", "as_of=2024-05-06", f"output={tmp_path}/f.parquet")
    assert out.returncode == 3
    assert error_lines(out) == ["error: table 'events', column 'timestamp': 1 values cannot be read as ISO-8601 "
                      "timestamps, e.g. 'not a date'"]
    assert not (tmp_path / "f.parquet").exists()


@pytest.mark.parametrize("output", ["accounts.csv", "events/part-9.parquet"])
def test_features_refuses_to_overwrite_an_input(tmp_path, output):
    data = tmp_path / "data"
    (data / "events").mkdir(parents=True)
    (data / "accounts.csv").write_text("account_id,created_at\na,2024-01-01\n")
    (data / "events" / "part-0.csv").write_text("account_id,event,timestamp\na,x,2024-01-02\n")
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    out = _run(tmp_path, f"data.dir={data}", "as_of=2024-05-06", f"output={data}/{output}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "input of the data source" in errors[0], out.stderr
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before
