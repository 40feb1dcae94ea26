"""The engine group (engines.settings): a mistake in the engine config is checked before any work --
one line, exit 2, without starting Spark.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

DEMO = ["data.demo.accounts=150", "data.demo.days=90", "data.demo.start=2024-01-01", "progress=false",
        "as_of=2024-03-25"]


@pytest.mark.parametrize("override, message", [
    ("engine=spork", "config group 'engine' has no option 'spork'"),
    ("engine.partitions=0", "engine.partitions: 0 must be a positive number"),
    ("engine.mastr=yarn", "unknown config key 'engine.mastr' (did you mean 'engine.master'?)"),
])
def test_engine_config_mistakes_exit_2_before_any_work(override, message) -> None:
    run = subprocess.run([sys.executable, "-m", "features", "engine=spark", override, *DEMO],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and run.stderr.count("\n") == 1
