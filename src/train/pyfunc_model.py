"""The MLflow pyfunc model, logged as *code* (MLflow's models-from-code): no pickle is stored.

MLflow saves this file with the model and loads it to rebuild the model; the scoring bundle
(plain files, see :mod:`train.scorer`) is the ``bundle`` artifact. ``predict`` takes the feature
columns of the spec (categoricals as text) and returns the scores table's model columns.
"""
from __future__ import annotations

import mlflow
import pandas as pd

from train.scorer import Scorer


class PQLModel(mlflow.pyfunc.PythonModel):
    """Calibrated score, intent/fit scores, tiers, rule flags and reasons from a feature table."""

    scorer: Scorer

    def load_context(self, context) -> None:
        self.scorer = Scorer.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        with_reasons = bool((params or {}).get("reasons", True))
        return self.scorer.score(model_input, with_reasons=with_reasons).reset_index(drop=True)


mlflow.models.set_model(PQLModel())
