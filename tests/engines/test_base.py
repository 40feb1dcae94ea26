"""The engine protocol (engines.base): ``engine_for`` returns the engine a config names, Spark only when chosen."""
from __future__ import annotations

import pytest

from engines.base import Engine, engine_for
from engines.local import LocalEngine
from engines.settings import EngineConfig
from features.errors import ConfigError


def _answers_the_protocol(engine) -> None:
    """Every call of the protocol (load, plan, build, map a task over the accounts) is there."""
    calls = [name for name in Engine.__dict__ if not name.startswith("_") and callable(Engine.__dict__[name])]
    assert {"load_tables", "plan_features", "build_features", "build_training_table", "map_accounts"} <= set(calls)
    assert all(callable(getattr(engine, name)) for name in calls)


@pytest.mark.parametrize("config", [None, {}, {"name": "local"}, EngineConfig()])
def test_no_engine_or_local_is_the_local_engine(config):
    engine = engine_for(config)
    assert isinstance(engine, LocalEngine) and engine.name == "local"
    _answers_the_protocol(engine)


def test_spark_is_chosen_by_name_and_starts_nothing_until_used():
    pytest.importorskip("pyspark")
    from engines.spark import SparkEngine

    engine = engine_for({"name": "spark", "partitions": 3})
    assert isinstance(engine, SparkEngine) and engine.name == "spark"
    assert engine.settings.partitions == 3 and engine._spark is None  # no JVM yet
    _answers_the_protocol(engine)


def test_a_mistaken_engine_config_is_a_config_error():
    with pytest.raises(ConfigError, match="engine.name: 'spork' is not one of"):
        engine_for({"name": "spork"})
    with pytest.raises(ConfigError, match="unknown config key 'engine.mastr'"):
        engine_for({"mastr": "yarn"})
