"""``python -m features engine=spark`` writes the local engine's feature file; the engine config is checked
before any work (in a second, without starting Spark)."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

pytestmark = [pytest.mark.xdist_group("spark"), pytest.mark.filterwarnings("ignore:PySpark does not yet")]

DEMO = ["data.demo.accounts=150", "data.demo.days=90", "data.demo.start=2024-01-01", "progress=false",
        "as_of=2024-03-25"]


def _compose(overrides: list[str]):
    from app.preflight import compose_config

    return compose_config("features", overrides, hydra_config=True)


def test_features_on_spark_writes_the_local_file(spark, tmp_path) -> None:
    from hydra.core.hydra_config import HydraConfig

    from features.__main__ import main

    outputs = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"{engine}.parquet"
        cfg = _compose([*DEMO, f"engine={engine}", "engine.partitions=3" if engine == "spark" else "engine.name=local",
                        f"output={out}", f"hydra.run.dir={tmp_path / engine}"])
        HydraConfig.instance().set_config(cfg)
        main(cfg)
        outputs[engine] = pd.read_parquet(out)
    pd.testing.assert_frame_equal(outputs["spark"], outputs["local"])
    assert len(outputs["local"]) > 50


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
