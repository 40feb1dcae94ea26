"""The embedded engine: today's functions in ``features``, on this machine, in memory."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from features import build, plan

from features.data import load
from features.config import DataConfig, FeatureConfig
from features.spec import FeatureSpec
from features.tables import LoadReport, Tables


class LocalEngine:
    """numpy / DuckDB in this process (the default)."""

    name = "local"

    def load_tables(self, data: DataConfig, instants: Sequence[object] = ()) -> tuple[Tables, LoadReport]:
        """Read, map, validate and set aside (``features.data.load``); ``instants`` are not needed here."""
        return load.load_tables(data)

    def plan_features(self, tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
        """The columns, from the rows that can reach a feature at or before ``as_of_max`` (``features.plan``)."""
        return plan.plan_features(tables, as_of_max, config)

    def build_features(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
                       progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """One row per eligible account per as-of (``features.build``)."""
        return build.build_features(tables, as_of, spec, progress=progress, max_age_us=max_age_us)

    def build_training_table(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                             progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """The feature table plus ``label`` (``features.build``)."""
        return build.build_training_table(tables, as_of, spec, horizon_days, progress=progress, max_age_us=max_age_us)

    def map_accounts(self, tables: Tables, task: Callable[[Tables, bool], tuple[pd.DataFrame, ...]],
                     progress: bool = False) -> tuple[pd.DataFrame, ...]:
        """``task(tables, progress)``: every account at once, in this process."""
        return task(tables, progress)
