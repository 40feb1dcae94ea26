"""Batch scoring on Spark: the registered model's own ``predict`` over each bucket of accounts
(``mapInPandas`` over the loaded model), through the same ``serve.batch.score_accounts`` as the local job."""
from __future__ import annotations

from typing import Any

import pandas as pd

from features.spec import FeatureSpec

from .engine import SparkEngine, collect_frames
from .tables import SparkTables


def score_on_spark(engine: SparkEngine, tables: SparkTables, model: Any, spec: FeatureSpec, as_of: pd.Timestamp,
                   version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores table, feature table) at ``as_of``, as ``serve.batch.score_accounts`` gives them locally.

    The verified pyfunc model travels to the executors with the task (pickled by Spark with its scorer:
    LightGBM's booster, the calibration map, tiers, rules), so every executor scores with exactly the
    model the driver loaded and checked."""
    from serve.batch import score_accounts

    def task(bucket):
        return score_accounts(bucket, model, spec, as_of, version)

    results = engine.map_buckets(tables, task)
    scores = collect_frames([r[0] for r in results])
    features = collect_frames([r[1] for r in results])
    return scores, features
