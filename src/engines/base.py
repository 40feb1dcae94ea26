"""An engine moves the data and runs the one feature kernel (``features.build``) over it.

Both engines answer the same calls with the same frames; only where the work runs differs:
``local`` on this machine in memory, ``spark`` per partition of accounts on a Spark cluster. A room above
(serving) hands its own per-account work to the engine as a task (:meth:`Engine.map_accounts`), so the
engines never import it.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence

import pandas as pd

from features.config import DataConfig, FeatureConfig
from features.spec import FeatureSpec
from features.tables import LoadReport, Tables

from engines.settings import EngineConfig


class Engine(Protocol):
    """What training, scoring and ``python -m features`` ask of the data plane."""

    name: str

    def load_tables(self, data: DataConfig, instants: Sequence[object] = ()) -> tuple[Tables, LoadReport]:
        """Read, map, validate and set aside; the tables on the driver (accounts, conversions, time bounds).
        ``instants``: as-ofs the caller will plan at (an engine may prepare their statistics while loading)."""

    def plan_features(self, tables: Tables, as_of_max: object, config: FeatureConfig) -> FeatureSpec:
        """The columns, from the rows that can reach a feature at or before ``as_of_max``."""

    def build_features(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec,
                       progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """One row per eligible account per as-of, ordered by as-of then account id (``max_age_us``: only the
        accounts at most that old at each as-of)."""

    def build_training_table(self, tables: Tables, as_of: Sequence[object], spec: FeatureSpec, horizon_days: int,
                             progress: bool = False, max_age_us: int | None = None) -> pd.DataFrame:
        """The feature table plus ``label``; ``max_age_us``: only accounts at most that old at each as-of."""

    def map_accounts(self, tables: Tables, task: Callable[[Tables, bool], tuple[pd.DataFrame, ...]],
                     progress: bool = False) -> tuple[pd.DataFrame, ...]:
        """``task(tables, progress)``'s frames (each with ``as_of`` and ``account_id``, ordered by them) over
        every account: local runs it once on the tables, Spark on each bucket of accounts and orders the
        gathered frames the same way. ``task`` must be picklable (it travels to Spark's executors)."""


def engine_for(config: EngineConfig | Mapping[str, Any] | None) -> Engine:
    """The engine a config names; Spark is imported only when it is chosen."""
    settings = config if isinstance(config, EngineConfig) else EngineConfig.from_mapping(config)
    if settings.name == "spark":
        from engines.spark import SparkEngine

        return SparkEngine(settings)
    from engines.local import LocalEngine

    return LocalEngine(settings)
