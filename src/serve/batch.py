"""Scoring every eligible account at one as-of: the same feature builder and spec as training.

Serving hands the engine a :class:`ScoringTask` (``engine.map_accounts``): the local engine runs it on its
tables, Spark on each bucket of accounts on its executors, so the engines never import serving.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from features.build import build_features
from features.contacts import contacts
from features.tables import Tables
from features.windows import instant_us
from train.scorer import Scorer, cast_input

CHUNK = 100_000  # accounts scored at a time: ~0.5 GiB of inputs, contributions and text at once
CONTACTS = 3  # people named per account in the scores' ``contacts`` column


@dataclass(frozen=True)
class ScoringTask:
    """Score the accounts of some tables at ``as_of`` with a verified model: the task serving hands the engine.

    It holds the model's verified :class:`~train.scorer.Scorer` (booster, calibration, tiers, rules, spec),
    not the MLflow pyfunc wrapper: MLflow loads its models-from-code module under a generated name that
    Spark's executors cannot import, while the Scorer pickles by reference to ``train.scorer``."""

    scorer: Scorer
    as_of: pd.Timestamp
    version: str

    def __call__(self, tables: Tables, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(scores table, feature table) of ``tables`` (see :func:`score_accounts`)."""
        return score_accounts(tables, self.scorer, self.as_of, self.version, progress=progress)


def score_accounts(tables: Tables, scorer: Scorer, as_of: pd.Timestamp, version: str,
                   progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores table, feature table) at ``as_of``, with the features of ``scorer.spec``.

    The scores table has the contract's columns: ``account_id``, ``as_of``, ``score``,
    ``intent_score``, ``fit_score``, ``intent_tier``, ``fit_tier``, ``pql_tier``, ``rule_<name>``...,
    ``reasons``, ``contacts`` (when the data has a users table), ``model_version``; one row per eligible account,
    ordered by account id.
    """
    spec = scorer.spec
    features = build_features(tables, [as_of], spec, progress=progress)
    spec.check(features)  # missing or mistyped columns: a clear error before any scoring
    # in chunks: the model input (every feature as float64 or text), contributions and reasons of a
    # million accounts at once would double peak memory; the model's input cast works row by row, so a
    # chunk's input equals that chunk of the whole input
    starts = tqdm(range(0, max(len(features), 1), CHUNK), desc="scoring", unit="chunk",
                  disable=None if progress else True, leave=False)
    predicted = pd.concat([predict(scorer, features.iloc[i:i + CHUNK]) for i in starts], ignore_index=True)
    scores = pd.concat([features[["account_id", "as_of"]].reset_index(drop=True),
                        predicted.reset_index(drop=True)], axis=1)
    scores["pql_tier"] = scores["pql_tier"].astype("Int64")
    people = contacts_of(tables, scores["account_id"], as_of, spec.buyers)
    if people is not None:  # after the reasons: who to talk to, beside why
        scores.insert(scores.columns.get_loc("reasons") + 1, "contacts", people.to_numpy())
    scores["model_version"] = str(version)
    return scores, features


def contacts_of(tables: Tables, account_ids: pd.Series, as_of: pd.Timestamp,
                buyers: dict[str, str]) -> pd.Series | None:
    """Each scored account's contacts (:func:`features.contacts.contacts`: decision makers first, then the
    most active lately); None when the data has no users table."""
    if tables.users is None:
        return None
    rows = pd.Index(tables.accounts["account_id"]).get_indexer(account_ids)
    return contacts(tables, rows, instant_us(as_of), buyers, n=CONTACTS)


def predict(scorer: Scorer, features: pd.DataFrame) -> pd.DataFrame:
    """The model columns with reasons, one row per row of ``features``: what the logged model's ``predict``
    returns (``train.pyfunc_model.PQLModel``), past MLflow's per-value check of its lenient (Any-typed) input
    schema (8x slower): loading has verified the model, and its input is cast here (``cast_input``)."""
    X = cast_input(pd.DataFrame(features), scorer.spec)
    return scorer.score(X, with_reasons=True).reset_index(drop=True)
