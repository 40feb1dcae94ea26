"""Scoring every eligible account at one as-of: the same feature builder and spec as training."""
from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from features.build import build_features
from features.tables import Tables

CHUNK = 100_000  # accounts scored at a time: ~0.5 GiB of inputs, contributions and text at once


def score_accounts(tables: Tables, model, spec, as_of: pd.Timestamp, version: str,
                   progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores table, feature table) at ``as_of``.

    ``model`` is the loaded MLflow pyfunc model: its ``predict`` returns the model columns.
    The scores table has the contract's columns: ``account_id``, ``as_of``, ``score``,
    ``intent_score``, ``fit_score``, ``intent_tier``, ``fit_tier``, ``pql_tier``, ``rule_<name>``...,
    ``reasons``, ``model_version``; one row per eligible account, ordered by account id.
    """
    features = build_features(tables, [as_of], spec, progress=progress)
    spec.check(features)  # missing or mistyped columns: a clear error before any scoring
    # in chunks: the model input (every feature as float64 or text), contributions and reasons of a
    # million accounts at once would double peak memory; the model's input cast works row by row, so a
    # chunk's input equals that chunk of the whole input
    starts = tqdm(range(0, max(len(features), 1), CHUNK), desc="scoring", unit="chunk",
                  disable=None if progress else True, leave=False)
    # the model's own predict, past MLflow's per-value check of its lenient (Any-typed) input schema (8x
    # slower): load_model has verified the model, and predict casts its input itself (train.scorer.cast_input)
    python_model = model.unwrap_python_model()
    predicted = pd.concat([python_model.predict(None, features.iloc[i:i + CHUNK], {"reasons": True})
                           for i in starts], ignore_index=True)
    scores = pd.concat([features[["account_id", "as_of"]].reset_index(drop=True),
                        predicted.reset_index(drop=True)], axis=1)
    scores["pql_tier"] = scores["pql_tier"].astype("Int64")
    scores["model_version"] = str(version)
    return scores, features
