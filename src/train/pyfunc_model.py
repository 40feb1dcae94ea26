"""The MLflow pyfunc model, logged as *code* (MLflow's models-from-code): no pickle is stored.

MLflow saves this file with the model and loads it to rebuild the model; the scoring bundle
(plain files, see :mod:`train.scorer`) is the ``bundle`` artifact, and the project modules this file
imports (:mod:`train.scorer` and what it imports from ``train`` and ``features``, see
:mod:`train.model_code`) ship with the model as its ``code_paths``: the model loads and predicts in an
environment that has only the model's own ``requirements.txt`` installed, not this project.

Input schema
------------
A data frame with one row per account and (at least) the feature spec's columns -- exactly what
``python -m features`` writes (read its Parquet file and pass it as it is):

* count and numeric columns: any numbers -- integer counts (``int64``), ratios and amounts
  (``float64``), booleans, nulls; numbers given as text are read as numbers;
* fit categoricals (text attributes of the account): text, ``category`` or ``string`` dtype, or
  nulls; a category never seen in training is scored as ``(other)`` or missing, not rejected;
* any other column (``account_id``, ``as_of``, a label...) is ignored.

The signature declares every spec column by name with MLflow's ``Any`` type (a missing column is
refused by MLflow itself), because MLflow's own type enforcement cannot accept both integer counts
and floats for one column, nor pandas categoricals; ``predict`` casts instead
(:func:`train.scorer.cast_input`) and refuses a non-numeric value in a numeric column with one line.
Parameter ``reasons`` (bool, default true): compute the readable reasons.

Output: the scores table's model columns, one row per input row in input order -- ``score``,
``intent_score``, ``fit_score``, ``intent_tier``, ``fit_tier``, ``pql_tier`` (null outside tiers
1-3), ``expected_value`` (score x predicted amount; only when the training conversions carried an
``amount``), ``rule_<name>`` for each hand-written rule, ``reasons`` (text; with ``reasons=true``).
"""
from __future__ import annotations

import mlflow
import pandas as pd

from train.scorer import Scorer, cast_input


class PQLModel(mlflow.pyfunc.PythonModel):
    """Calibrated score, intent/fit scores, tiers, rule flags and reasons from a feature table."""

    scorer: Scorer

    def load_context(self, context) -> None:
        """Load the verified scoring bundle (the ``bundle`` artifact)."""
        self.scorer = Scorer.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """The scores table's model columns for each input row, in input order (see the module's docstring)."""
        with_reasons = bool((params or {}).get("reasons", True))
        X = cast_input(pd.DataFrame(model_input), self.scorer.spec)
        return self.scorer.score(X, with_reasons=with_reasons).reset_index(drop=True)


mlflow.models.set_model(PQLModel())
