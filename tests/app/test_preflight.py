"""Config mistakes fail before any work: one line on stderr, the documented exit code, nothing written.

Each case runs the real command (``python -m train|features|serve``) from a temporary folder. How long the
check takes is a benchmark figure (about a second on a quiet machine), never an assertion here.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# MLflow's own INFO records (it creates the tables of a new tracking store on stderr): not errors
MLFLOW_INFO = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO mlflow")

CASES = [
    # (command, overrides, exit code, a part of the one line)
    ("train", ["capacity.per_weak=10"], 2, "unknown config key 'capacity.per_weak' (did you mean 'capacity.per_week'?)"),
    ("train", ["+capacity.per_weak=10"], 2, "capacity.per_weak"),
    ("train", ["capacity.per_week=abc"], 2, "'capacity.per_week': 'abc' is not an integer"),
    ("train", ["capacity.per_week=null"], 2, "cannot be null"),
    ("train", ["capacity.per_week=0"], 2, "capacity.per_week: 0 must be at least 1"),
    ("train", ["evaluation.capacity_per_week=20"], 2,
     "config key 'evaluation.capacity_per_week' is now 'capacity.per_week'"),
    ("train", ["model.lightgbm.n_estimators=many"], 2, "'model.lightgbm.n_estimators': 'many' is not an integer"),
    ("train", ["model=logistic", "model.num_leaves=8"], 2, "unknown config key 'model.num_leaves'"),
    ("train", ["promotion.mode=sometimes"], 2, "promotion.mode: 'sometimes' is not one of"),
    ("train", ["learned.max_rules=50"], 2, "learned.max_rules: 50 is not between 1 and 10"),
    ("train", ["features.windows=[7,x]"], 2, "'features.windows[1]': 'x' is not an integer"),
    ("train", ["data.strict=maybe"], 2, "'data.strict': 'maybe' is not true or false"),
    ("train", ["data.demo.accounts=many"], 2, "'data.demo.accounts': 'many' is not an integer"),
    ("train", ["promotion.metric=auc"], 2, "promotion.metric: 'auc' is not one of"),
    ("train", ["backtest.trees=always"], 2, "backtest.trees: 'always' is not one of ['once', 'per_fold']"),
    ("train", ["model=xgboost"], 2, "config group 'model' has no option 'xgboost'; options: auto, lightgbm, logistic"),
    ("train", ["calibration=platt"], 2, "config group 'calibration' has no option 'platt'"),
    ("train", ["model=lightgbm,logistic"], 2, "--multirun"),
    ("train", ["--multirun", "model=lightgbm,xgboost"], 2, "config group 'model' has no option 'xgboost'"),
    ("train", ["data.dir=a{b"], 2, "data.dir=a{b"),
    ("train", ["--config-dir", "no_such_folder"], 2, "no_such_folder"),
    ("train", ["rules.file=missing_rules.yaml"], 2, "rules.file=missing_rules.yaml: no such file"),
    ("train", ["data.dir=no_such_folder"], 2, "data.dir: folder 'no_such_folder' does not exist"),
    ("train", ["data.dir=bad"], 3, "table 'events'"),  # bad input data (a folder with accounts.csv only)
    ("features", ["as_of=now", "data.dir=bad"], 3, "table 'events'"),
    ("features", [], 2, "as_of is required"),
    ("features", ["as_of=2024-13-45"], 2, "as_of: '2024-13-45' is not an instant"),
    ("features", ["as_of=yesterday"], 2, "as_of: 'yesterday' is not an instant"),
    ("features", ["as_of=now", "output=features.txt"], 2, "output: 'features.txt' must end in .parquet or .csv"),
    ("features", ["as_of=now", "output=."], 2, "is a folder"),
    ("features", ["as_of=now", "features.windows=[7,x]"], 2, "'features.windows[1]': 'x' is not an integer"),
    ("serve", ["as_of=yesterday"], 2, "as_of: 'yesterday' is not an instant"),
    ("serve", ["monitoring.psi_warn=abc"], 2, "'abc' is not a number"),
    ("serve", ["as_of=2025-06-09"], 4, ""),  # an empty tracking store: no registered model
]


def _run(tmp_path, command, overrides, env=None):
    args = [sys.executable, "-m", command, *overrides, f"hydra.run.dir={tmp_path}/run",
            f"hydra.sweep.dir={tmp_path}/multirun"]
    if command in ("train", "serve"):
        args.append(f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command,overrides,code,line", CASES,
                         ids=[f"{c}:{' '.join(o) or '(none)'}" for c, o, _, _ in CASES])
def test_config_mistake_is_one_line_and_its_exit_code_before_any_work(tmp_path, command, overrides, code, line):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "accounts.csv").write_text("account_id,created_at\na,2024-01-01\n")
    out = _run(tmp_path, command, overrides, {"HYDRA_FULL_ERROR": ""})
    lines = [text for text in out.stderr.splitlines() if text.strip() and not MLFLOW_INFO.match(text)]
    assert out.returncode == code, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
    assert line in lines[0]
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.parquet"))


def test_debug_true_shows_the_traceback(tmp_path):
    out = _run(tmp_path, "features", ["as_of=yesterday", "debug=true"])
    assert out.returncode == 2 and "Traceback" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: as_of: 'yesterday'")


def test_hydra_full_error_shows_the_traceback(tmp_path):
    out = _run(tmp_path, "train", ["model=xgboost"], {"HYDRA_FULL_ERROR": "1"})
    assert out.returncode == 2 and "Traceback" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: config group 'model' has no option")


def test_help_and_cfg_are_hydra_as_before(tmp_path):
    out = _run(tmp_path, "train", ["--help"])
    assert out.returncode == 0 and "model: auto, lightgbm, logistic" in out.stdout
    out = _run(tmp_path, "features", ["--cfg", "job", "as_of=now", "data.demo.accounts=200"])
    assert out.returncode == 0 and "accounts: 200" in out.stdout
