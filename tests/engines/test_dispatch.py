"""The feature calls run by the engine that holds the tables (engines.dispatch): local tables go to the local
engine, tables an engine loaded (``tables.state.engine``) go back to that engine."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from engines import dispatch
from engines.local import LocalEngine
from features.build import build_features, build_training_table
from features.config import FeatureConfig
from features.data.load import load_frames
from features.plan import plan_features

AS_OF = pd.Timestamp("2024-02-01")


class Recorder:
    """An engine that answers each call with its name and arguments."""

    def plan_features(self, *args):
        return ("plan", args)

    def build_features(self, *args, progress=False, max_age_us=None):
        return ("build", args, progress, max_age_us)

    def build_training_table(self, *args, progress=False, max_age_us=None):
        return ("train", args, progress, max_age_us)


def test_local_tables_are_built_by_the_local_engine_as_features_build_builds_them(make_frames):
    tables, _ = load_frames(make_frames())
    assert isinstance(dispatch.engine_of(tables), LocalEngine)
    spec = dispatch.plan_features(tables, AS_OF, FeatureConfig())
    assert spec == plan_features(tables, AS_OF, FeatureConfig())
    pd.testing.assert_frame_equal(dispatch.build_features(tables, [AS_OF], spec), build_features(tables, [AS_OF], spec))
    pd.testing.assert_frame_equal(dispatch.build_training_table(tables, [AS_OF], spec, 30),
                                  build_training_table(tables, [AS_OF], spec, 30))


def test_tables_an_engine_loaded_go_back_to_that_engine():
    engine = Recorder()
    tables = SimpleNamespace(state=SimpleNamespace(engine=engine))
    assert dispatch.engine_of(tables) is engine
    assert dispatch.plan_features(tables, AS_OF, "cfg") == ("plan", (tables, AS_OF, "cfg"))
    assert dispatch.build_features(tables, [AS_OF], "spec", progress=True) == (
        "build", (tables, [AS_OF], "spec"), True, None)
    # first looks (accounts at most a day old) reach the engine that holds the tables
    assert dispatch.build_training_table(tables, [AS_OF], "spec", 30, max_age_us=5) == (
        "train", (tables, [AS_OF], "spec", 30), False, 5)


def test_a_state_without_an_engine_is_local():
    assert isinstance(dispatch.engine_of(SimpleNamespace(state=SimpleNamespace(engine=None))), LocalEngine)
    assert isinstance(dispatch.engine_of(SimpleNamespace(state=None)), LocalEngine)
