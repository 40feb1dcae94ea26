"""The embedded engine: the functions in ``features``, on this machine; within ``engine.memory_gb``, a source
too big to hold whole is processed in buckets of accounts (:mod:`engines.local_buckets`)."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from features import build, plan

from features.config import DataConfig, FeatureConfig
from features.spec import FeatureSpec
from features.tables import LoadReport, Tables

from engines import local_buckets
from engines.local_buckets import BucketedTables
from engines.settings import EngineConfig


class LocalEngine:
    """numpy / DuckDB in this process (the default)."""

    name = "local"

    def __init__(self, settings: EngineConfig | None = None):
        self.settings = settings or EngineConfig()

    def load_tables(self, data: DataConfig, instants: Sequence[object] = ()) -> tuple[Tables, LoadReport]:
        """Read, map, validate and set aside (``features.data.load``): whole when the source fits the memory
        budget, else per bucket of accounts; ``instants``: as-ofs to plan at exactly (buckets only)."""
        return local_buckets.load(self, data, instants)

    def plan_features(self, tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
        """The columns, from the rows that can reach a feature at or before ``as_of_max`` (``features.plan``)."""
        if isinstance(tables, BucketedTables):
            return local_buckets.plan(tables, as_of_max, config)
        return plan.plan_features(tables, as_of_max, config)

    def build_features(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
                       progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """One row per eligible account per as-of (``features.build``)."""
        if isinstance(tables, BucketedTables):
            return local_buckets.build(tables, as_of, spec, None, max_age_us)
        return build.build_features(tables, as_of, spec, progress=progress, max_age_us=max_age_us)

    def build_training_table(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                             progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """The feature table plus ``label`` (``features.build``)."""
        if isinstance(tables, BucketedTables):
            return local_buckets.build(tables, as_of, spec, int(horizon_days), max_age_us)
        return build.build_training_table(tables, as_of, spec, horizon_days, progress=progress, max_age_us=max_age_us)

    def map_accounts(self, tables: Tables, task: Callable[[Tables, bool], tuple[pd.DataFrame, ...]],
                     progress: bool = False) -> tuple[pd.DataFrame, ...]:
        """``task(tables, progress)``: every account at once, or bucket after bucket."""
        if isinstance(tables, BucketedTables):
            return local_buckets.map_accounts(tables, task)
        return task(tables, progress)
