"""Batch scoring on Spark: the registered model's own ``predict`` over each bucket of accounts
(``mapInPandas`` over the loaded model), through the same ``serve.batch.score_accounts`` as the local job."""
from __future__ import annotations

from typing import Any

import pandas as pd

from features.spec import FeatureSpec

from engines.spark.engine import SparkEngine, collect_frames
from engines.spark.tables import SparkTables


class ScorerModel:
    """The loaded model as executors receive it: its verified ``Scorer`` (``train.scorer``, pickled by
    reference with its booster, calibration, tiers and rules) behind the pyfunc's ``predict``, exactly as
    ``train.pyfunc_model.PQLModel.predict`` does it. The pyfunc wrapper itself cannot travel: MLflow loads
    its models-from-code module under a generated name that executors cannot import."""

    def __init__(self, scorer: Any):
        self.scorer = scorer

    def unwrap_python_model(self) -> "ScorerModel":
        return self

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from train.scorer import cast_input

        X = cast_input(pd.DataFrame(model_input), self.scorer.spec)
        return self.scorer.score(X, with_reasons=bool((params or {}).get("reasons", True))).reset_index(drop=True)


def score_on_spark(engine: SparkEngine, tables: SparkTables, model: Any, spec: FeatureSpec, as_of: pd.Timestamp,
                   version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores table, feature table) at ``as_of``, as ``serve.batch.score_accounts`` gives them locally.

    The verified model travels to the executors with the task (:class:`ScorerModel`), so every executor
    scores with exactly the model the driver loaded and checked."""
    from serve.batch import score_accounts

    model = ScorerModel(model.unwrap_python_model().scorer)

    def task(bucket):
        return score_accounts(bucket, model, spec, as_of, version)

    results = engine.map_buckets(tables, task)
    scores = collect_frames([r[0] for r in results])
    features = collect_frames([r[1] for r in results])
    return scores, features
