"""A command's Hydra app (app.command) around the work: a run folder that cannot be made, a tracking store that
cannot take the run and a full disk are one line and a documented exit code; database passwords are in no
file of the run folder (issue 21). Each runs the real command in a subprocess."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SERVE = ["as_of=2024-08-20", "data.demo.accounts=600", "data.demo.days=240", "data.demo.start=2024-01-01",
         "progress=false"]
SMALL_TRAIN = [*SERVE[1:], "backtest.baseline=null"]

# Root writes through any file mode: without these capabilities a root process meets the modes as any user does.
_AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner",
              "--inh-caps=-dac_override,-dac_read_search,-fowner"]

# python -m train with a disk that fills up while report.html is written (what ENOSPC does to a write)
_FULL_DISK = """
import errno, pathlib, runpy, sys
write = pathlib.Path.write_text
def full(self, *args, **kwargs):
    if self.name.startswith((".report.html", "report.html")):
        write(self, "<!DOCTYPE html><p>half a rep", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")
    return write(self, *args, **kwargs)
pathlib.Path.write_text = full
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("train", run_name="__main__", alter_sys=True)
"""


def _run(module: str, *args: str, cwd: Path, user: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", module, *args]
    if user and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot make a store read-only")
        argv = [*_AS_A_USER, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=cwd)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0], err[-3000:]
    return lines[0]


def _read_only_copy(trained, folder: Path) -> str:
    """A copy of the trained store (database and artifacts) that no one may write."""
    folder.mkdir()
    shutil.copy(trained.root / "mlflow.db", folder / "mlflow.db")
    shutil.copytree(trained.root / "mlruns", folder / "mlruns")
    for path in [folder / "mlflow.db", *(folder / "mlruns").rglob("*"), folder / "mlruns", folder]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return f"sqlite:///{folder}/mlflow.db"


@pytest.fixture
def read_only_store(trained, tmp_path):
    uri = _read_only_copy(trained, tmp_path / "store")
    yield uri
    for path in [tmp_path / "store", *(tmp_path / "store").rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_a_read_only_tracking_store_fails_serve_before_scoring(read_only_store, tmp_path):
    out = _run("serve", *SERVE, f"tracking.uri={read_only_store}", f"output={tmp_path}/scores.parquet",
               f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, user=True)
    assert out.returncode == 4, out.stderr[-3000:]
    line = _one_line(out.stderr)
    assert f"tracking store {tmp_path}/store/mlflow.db cannot be written" in line and "tracking.uri" in line
    assert not (tmp_path / "scores.parquet").exists()  # nothing written, then a failure


def test_a_read_only_tracking_store_fails_train_before_training(read_only_store, tmp_path):
    out = _run("train", *SMALL_TRAIN, f"tracking.uri={read_only_store}", f"hydra.run.dir={tmp_path}/run",
               cwd=tmp_path, user=True)
    assert out.returncode == 4, out.stderr[-3000:]
    assert "cannot be written" in _one_line(out.stderr)
    assert not (tmp_path / "run" / "predictions.parquet").exists()


def test_a_tracking_store_that_is_not_a_database_is_named(tmp_path):
    (tmp_path / "notadb.txt").write_text("these are my notes\n")
    for module, args in (("serve", SERVE), ("train", SMALL_TRAIN)):
        out = _run(module, *args, "tracking.uri=sqlite:///notadb.txt", f"hydra.run.dir={tmp_path}/{module}",
                   f"output={tmp_path}/scores.parquet" if module == "serve" else "progress=false", cwd=tmp_path)
        assert out.returncode == 4, out.stderr[-3000:]
        assert f"tracking store {tmp_path}/notadb.txt is not an SQLite database" in _one_line(out.stderr)
    assert (tmp_path / "notadb.txt").read_text() == "these are my notes\n"


@pytest.mark.parametrize("sweep", [False, True])
def test_a_run_folder_under_a_file_is_a_configuration_error(tmp_path, sweep):
    (tmp_path / "somefile").write_text("x")
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    out = _run("serve", *(["--multirun"] if sweep else []), *SERVE, f"{key}={tmp_path}/somefile/run",
               f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    line = _one_line(out.stderr)
    assert key in line and f"'{tmp_path}/somefile' is a file, not a folder" in line
    assert (tmp_path / "somefile").read_text() == "x"


def test_passwords_are_in_no_file_of_the_run_folder(tmp_path):
    url = "postgresql://pql:s3cret-pw@127.0.0.1:1/crm"  # nothing listens on port 1: exit 4 at once
    out = _run("serve", *SERVE, f"output={url}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
               f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert out.returncode == 4, out.stderr[-3000:]
    assert "s3cret" not in out.stderr + out.stdout
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"overrides.yaml", "config.yaml", "hydra.yaml", "serve.log"}
    assert not [p for p in files if "s3cret" in p.read_text()]
    overrides = (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text()
    assert "- output=postgresql://pql:***@127.0.0.1:1/crm" in overrides


def test_passwords_are_in_no_file_of_a_sweep(tmp_path):
    out = _run("serve", "--multirun", *SERVE, "output=postgresql://pql:s3cret-pw@127.0.0.1:1/crm",
               f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert out.returncode == 4, out.stderr[-3000:]
    files = [p for p in (tmp_path / "sweep").rglob("*") if p.is_file()]
    assert "multirun.yaml" in {p.name for p in files}
    assert not [p for p in files if "s3cret" in p.read_text()]


def test_a_full_disk_while_writing_the_report_leaves_no_temporary_file(tmp_path):
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-c", _FULL_DISK, *SMALL_TRAIN, f"hydra.run.dir={run}",
                          f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 4, out.stderr[-3000:]
    line = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert line == [f"error: cannot write {run}/report.html: no space left on the device; free some space or "
                    f"write elsewhere (hydra.run.dir, output)"], out.stderr[-3000:]
    assert not [p.name for p in run.iterdir() if "report.html" in p.name or p.name.endswith(".tmp")]
    assert "is the new champion" not in out.stdout  # a failed run never claims success
