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
    ("engine.memory_gb=0", "engine.memory_gb: 0.0 must be a positive number of GiB"),
    ("engine.memory_gb=-2", "engine.memory_gb: -2.0 must be a positive number of GiB"),
])
def test_engine_config_mistakes_exit_2_before_any_work(override, message) -> None:
    run = subprocess.run([sys.executable, "-m", "features", "engine=spark", override, *DEMO],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and run.stderr.count("\n") == 1


@pytest.mark.parametrize("value", [0, -1.5, float("inf"), float("nan"), "3", True])
def test_memory_gb_must_be_a_positive_number(value) -> None:
    from engines.settings import EngineConfig
    from features.errors import ConfigError

    with pytest.raises(ConfigError, match="engine.memory_gb: .* must be a positive number of GiB"):
        EngineConfig.from_mapping({"memory_gb": value})


def test_memory_gb_takes_gib_and_null() -> None:
    from engines.settings import EngineConfig

    assert EngineConfig.from_mapping({"memory_gb": 3}).memory_gb == 3
    assert EngineConfig.from_mapping({"memory_gb": 0.5}).memory_gb == 0.5
    assert EngineConfig.from_mapping({"memory_gb": None}).memory_gb is None


def test_text_for_memory_gb_is_refused_on_compose() -> None:
    run = subprocess.run([sys.executable, "-m", "features", "engine.memory_gb=lots", *DEMO],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "memory_gb" in run.stderr and run.stderr.count("\n") == 1, run.stderr
