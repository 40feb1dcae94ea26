"""python -m serve as scheduled: what docs/scoring.md's "Scheduling serve" shows runs as printed (a date in the output path, the cron lines), and the run's log file."""
from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd


ROOT = Path(__file__).resolve().parents[2]


def scheduling_section() -> str:
    text = (ROOT / "docs" / "scoring.md").read_text(encoding="utf-8")
    start = text.index("## Scheduling `serve`")
    return text[start:text.index("\n## ", start + 1)]


def cron_lines() -> list[str]:
    """The crontab lines of the scheduling section of docs/scoring.md (comments left out)."""
    block = re.search(r"^```cron\n(.*?)^```", scheduling_section(), re.S | re.M).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def cron_command(line: str, replace: dict[str, str], extra: list[str]) -> str:
    """What cron hands to /bin/sh for ``line``: the schedule fields dropped, ``\\%`` unescaped (cron
    turns a bare % into a newline); ``replace`` moves the README's paths and hosts to the test's own,
    and ``extra`` overrides go right after ``python -m serve``'s arguments (before the redirection)."""
    command = line.split(None, 5)[5].replace("\\%", "%")
    for old, new in replace.items():
        assert old in command, (old, command)
        command = command.replace(old, new)
    head, redirect, tail = command.partition(" >> ")
    return f"{head} {' '.join(shlex.quote(e) for e in extra)}{redirect}{tail}"


def serve_overrides(trained, run_dir: Path) -> list[str]:
    return [*trained.demo, f"tracking.uri={trained.uri}", f"hydra.run.dir={run_dir}"]


def _mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


def _cfg_output(args: list[str], shell: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "serve", *args, "--cfg", "job"]
    if shell:  # the arguments exactly as a shell reads them from the README
        return subprocess.run(["/bin/sh", "-c", " ".join([shlex.quote(sys.executable), "-m", "serve", *args,
                                                          "--cfg", "job"])],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_bare_braces_fail_in_hydra_as_the_readme_says():
    section = scheduling_section()
    bare = "output=scores/{date}.parquet"
    assert f"bare `{bare}` fails" in " ".join(section.split())
    out = _cfg_output([bare])
    assert out.returncode != 0 and "mismatched input '{'" in out.stderr


def test_the_readme_quoting_of_a_date_in_output_works(trained, tmp_path):
    quoted = re.search(r"`(\"output='[^`]*\{date\}[^`]*'\")`", scheduling_section()).group(1)
    assert quoted == "\"output='scores/{date}.parquet'\""
    shown = _cfg_output([quoted], shell=True)
    assert shown.returncode == 0, shown.stderr
    assert "output: scores/{date}.parquet" in shown.stdout
    # and a real run with it, from a shell, as printed
    command = " ".join([shlex.quote(sys.executable), "-m", "serve", "as_of=2024-12-02", quoted,
                        *map(shlex.quote, serve_overrides(trained, tmp_path / "run"))])
    run = subprocess.run(["/bin/sh", "-c", f"umask 022 && {command}"], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    written = tmp_path / "scores" / "2024-12-02.parquet"
    assert len(pd.read_parquet(written)) > 0 and _mode(written) == "-rw-r--r--"


def test_the_readme_cron_line_with_output_dir_runs_as_printed(trained, tmp_path):
    line = next(line for line in cron_lines() if "output_dir=" in line)
    work, scores, cron_log, run_dir = tmp_path / "pql", tmp_path / "scores", tmp_path / "cron.log", tmp_path / "run"
    work.mkdir()
    command = cron_command(line, {"cd /opt/pql": f"cd {shlex.quote(str(work))}",
                                  ".venv/bin/python": shlex.quote(sys.executable),
                                  "/srv/pql/scores": shlex.quote(str(scores)),
                                  "/var/log/pql-serve.log": shlex.quote(str(cron_log))},
                           serve_overrides(trained, run_dir))
    old = os.umask(0o077)  # the line's own `umask 022` must win over the caller's
    try:
        run = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=600)
    finally:
        os.umask(old)
    assert run.returncode == 0, cron_log.read_text()[-3000:] if cron_log.exists() else run.stderr
    today = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    written = scores / f"scores_{today}.parquet"
    frame = pd.read_parquet(written)
    assert len(frame) > 0 and (frame["as_of"] == pd.Timestamp(today)).all()
    assert _mode(written) == "-rw-r--r--"
    assert f"scores_{today}.parquet" in cron_log.read_text()  # console output went to the redirect
    # the run's own log file, in its run folder, holds the run's lines
    log = (run_dir / "serve.log").read_text()
    assert "accounts scored" in log and str(written) in log and "PQL tiers" in log
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()


def test_a_failed_run_leaves_its_reason_in_serve_log(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serve", f"tracking.uri=sqlite:///{tmp_path}/none.db",
                          f"output={tmp_path}/s.parquet", f"hydra.run.dir={tmp_path}/run"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 4
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1  # the scheduler's one line is unchanged
    log = (tmp_path / "run" / "serve.log").read_text()
    assert "ERROR" in log and "failed (exit 4)" in log and "python -m train" in log


def test_the_default_run_folder_holds_serve_log(trained, tmp_path):
    """Without hydra.run.dir the log lands where the README says: outputs/YYYY-MM-DD/HH-MM-SS/serve.log."""
    out = subprocess.run([sys.executable, "-m", "serve", *trained.demo, f"tracking.uri={trained.uri}",
                          "as_of=2024-12-02", f"output={tmp_path}/s.csv"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    logs = list((tmp_path / "outputs").glob("*/*/serve.log"))
    assert len(logs) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d", "/".join(logs[0].parts[-3:-1]))
    assert "accounts scored" in logs[0].read_text()


def test_a_table_name_that_is_not_a_plain_identifier_stops_serve_before_any_work(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serve", f"output={tmp_path}/scores.duckdb",
                          "output_table=pql; COPY x TO '/tmp/pwned'", f"tracking.uri=sqlite:///{tmp_path}/none.db",
                          f"hydra.run.dir={tmp_path}/run", "progress=false"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "output_table" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "scores.duckdb").exists() and not (tmp_path / "none.db").exists()
