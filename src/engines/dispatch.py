"""The feature calls of ``features.build``, run by the engine that holds the tables.

Tables loaded by the Spark engine keep their events on Spark and know their engine; any other tables
are local. So training and scoring code calls these instead of ``features.build`` and runs unchanged
on either engine.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from features.config import FeatureConfig
from features.spec import FeatureSpec
from features.tables import Tables

from engines.base import Engine
from engines.local import LocalEngine


def engine_of(tables: Tables) -> Engine:
    """The engine whose tables these are (local unless the Spark engine loaded them)."""
    state = getattr(tables, "state", None)
    return state.engine if state is not None and getattr(state, "engine", None) is not None else LocalEngine()


def plan_features(tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
    """The feature spec at ``as_of_max``, planned by the engine that holds ``tables``."""
    return engine_of(tables).plan_features(tables, as_of_max, config)


def build_features(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, progress: bool = False,
                   max_age_us: int | None = None) -> pd.DataFrame:
    """The feature table at ``as_of``, built by the engine that holds ``tables`` (``max_age_us``: first looks)."""
    return engine_of(tables).build_features(tables, as_of, spec, progress=progress, max_age_us=max_age_us)


def build_training_table(tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                         progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
    """The labelled feature table, built by the engine that holds ``tables`` (``max_age_us``: first looks)."""
    return engine_of(tables).build_training_table(tables, as_of, spec, horizon_days, progress=progress,
                                                  max_age_us=max_age_us)
