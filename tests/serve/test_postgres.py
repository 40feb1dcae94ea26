"""python -m serve into a real PostgreSQL server that the tests start themselves (``postgres`` in conftest.py).

Two runs of one day leave one day's rows with identical values; a run that fails or is killed
half-way through the write leaves the previous rows; the crontab line of docs/scoring.md runs as printed.
"""
from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed: pip install -e '.[postgres]'")
import sqlalchemy as sa  # noqa: E402

from serve.job import run_job  # noqa: E402
from serve.write import OutputBusyError, check_target  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]  # starts a PostgreSQL server of its own

AS_OF = "2024-12-02"
ROOT = Path(__file__).resolve().parents[2]


def _config(trained, output, **extra):
    overrides = [*trained.demo, f"tracking.uri={trained.uri}", f"as_of={AS_OF}", f"output={output}",
                 "alerts.warm_days=0"]  # each run writes its own day only (the demo's warm-up: test_job.py)
    return {**trained.compose("serve", overrides), **extra}


def _table(server, table: str = "pql_scores") -> pd.DataFrame:
    engine = sa.create_engine(server.dsn().replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as con:
            return pd.read_sql(sa.text(f'SELECT * FROM "{table}" ORDER BY as_of, account_id'), con)
    finally:
        engine.dispose()


def _day(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    return frame[frame["as_of"] == pd.Timestamp(day)].sort_values("account_id").reset_index(drop=True)


def _same_rows(stored: pd.DataFrame, scores: pd.DataFrame) -> None:
    """The stored rows are the scores, value for value (floats bit for bit)."""
    expected = scores.sort_values("account_id").reset_index(drop=True)
    assert list(stored.columns) == list(expected.columns)
    assert len(stored) == len(expected)
    for column in expected.columns:
        got, want = stored[column], expected[column]
        if pd.api.types.is_float_dtype(want):
            np.testing.assert_array_equal(got.to_numpy(dtype=float), want.to_numpy(dtype=float), err_msg=column)
        else:
            assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in want], column


def test_two_runs_of_one_day_leave_one_days_rows_with_identical_values(trained, postgres):
    table = "scores_rerun"
    first = run_job(_config(trained, postgres.url, output_table=table))
    assert first.written_to.startswith("postgresql+psycopg://pql@127.0.0.1")  # postgresql:// got psycopg 3
    after_one = _table(postgres, table)
    run_job(_config(trained, postgres.url, output_table=table))  # the same day again: replaced
    after_two = _table(postgres, table)
    assert len(after_two) == len(first.scores) and after_two["as_of"].nunique() == 1
    pd.testing.assert_frame_equal(after_one, after_two)
    _same_rows(after_two, first.scores)
    run_job({**_config(trained, postgres.url, output_table=table), "as_of": "2024-12-09"})  # another day: kept
    after_three = _table(postgres, table)
    assert after_three["as_of"].nunique() == 2
    pd.testing.assert_frame_equal(_day(after_three, AS_OF), _day(after_two, AS_OF))


def test_a_run_failing_after_the_delete_leaves_the_previous_rows(trained, postgres, monkeypatch):
    table = "scores_failed"
    run_job(_config(trained, postgres.url, output_table=table))
    before = _table(postgres, table)
    original = pd.DataFrame.to_sql
    reached = []

    def crash(self, name, con, *args, **kwargs):
        # inside the transaction, after this day's rows were deleted: insert a few, then fail
        deleted = con.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar()
        reached.append(deleted)
        original(self.head(10), name, con, *args, **kwargs)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(pd.DataFrame, "to_sql", crash)
    with pytest.raises(RuntimeError, match="connection lost"):
        run_job(_config(trained, postgres.url, output_table=table))
    assert reached == [0]  # the failure did come after the delete
    pd.testing.assert_frame_equal(_table(postgres, table), before)


KILLED_WRITER = textwrap.dedent("""
    import json, sys, time
    import pandas as pd
    from serve.job import run_job

    original = pd.DataFrame.to_sql

    def stall(self, name, con, *args, **kwargs):
        original(self.head(10), name, con, *args, **kwargs)  # this day's rows deleted, 10 new ones inserted
        print("mid-write", flush=True)
        time.sleep(600)  # killed here

    pd.DataFrame.to_sql = stall
    run_job(json.loads(sys.stdin.readline()))
""")


def test_a_run_killed_mid_write_leaves_the_previous_rows(trained, postgres):
    table = "scores_killed"
    run_job(_config(trained, postgres.url, output_table=table))
    before = _table(postgres, table)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        proc.stdin.write(json.dumps(_config(trained, postgres.url, output_table=table)) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.strip() == "mid-write", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30  # the server notices the dropped connection and rolls back
    while True:
        try:
            pd.testing.assert_frame_equal(_table(postgres, table), before)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_an_unreachable_server_is_exit_4_before_any_work(postgres):
    closed = f"postgresql://pql@127.0.0.1:{postgres.free_port()}/crm"
    with pytest.raises(OutputBusyError, match="cannot connect") as err:
        check_target(closed, pd.Timestamp(AS_OF), [])
    assert err.value.exit_code == 4 and "\n" not in str(err.value)


def _cron_postgres_line() -> str:
    """The crontab line of docs/scoring.md that writes to PostgreSQL (section "Scheduling `serve`")."""
    text = (ROOT / "docs" / "scoring.md").read_text(encoding="utf-8")
    section = text[text.index("## Scheduling `serve`"):]
    block = re.search(r"^```cron\n(.*?)^```", section, re.S | re.M).group(1)
    return next(line for line in block.splitlines() if "output=postgresql://" in line and not line.startswith("#"))


def test_the_readme_cron_line_writes_to_postgresql(trained, postgres, tmp_path):
    line = _cron_postgres_line()
    # what cron hands to /bin/sh: the schedule fields dropped, \% unescaped; the README's paths and
    # host moved to the test's own; the test's overrides (demo world, tracking store, run folder) added
    command = line.split(None, 5)[5].replace("\\%", "%")
    work, cron_log, run_dir = tmp_path / "pql", tmp_path / "cron.log", tmp_path / "run"
    work.mkdir()
    for old, new in {"cd /opt/pql": f"cd {shlex.quote(str(work))}", ".venv/bin/python": shlex.quote(sys.executable),
                     "postgresql://pql@db/crm": postgres.url, "/var/log/pql-serve.log": shlex.quote(str(cron_log))
                     }.items():
        assert old in command, (old, command)
        command = command.replace(old, new)
    extra = [*trained.demo, f"tracking.uri={trained.uri}", f"hydra.run.dir={run_dir}", "alerts.warm_days=0"]
    head, redirect, tail = command.partition(" >> ")
    command = f"{head} {' '.join(map(shlex.quote, extra))}{redirect}{tail}"
    for _ in range(2):  # tonight, and a rerun of tonight
        run = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, cron_log.read_text()[-3000:] if cron_log.exists() else run.stderr
    today = pd.Timestamp.now(tz="UTC").normalize().tz_localize(None)
    stored = _table(postgres)  # the default output_table, pql_scores
    assert len(stored) > 0 and (stored["as_of"] == today).all()
    assert stored["account_id"].is_unique  # the rerun replaced tonight's rows
    assert "postgresql+psycopg://pql@127.0.0.1" in (run_dir / "serve.log").read_text()
