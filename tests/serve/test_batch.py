"""Scoring every eligible account at one as-of (serve.batch): scored in chunks it is the same table as scored
at once, the task the engines run is the same call, and the table has the contract's shape."""
from __future__ import annotations

import pandas as pd
import pytest

from features.config import DataConfig
from features.contacts import contacts
from features.windows import instant_us
from features.data.load import load_tables
from serve import batch

AS_OF = pd.Timestamp("2024-11-04")


@pytest.fixture(scope="module")
def tables(trained):
    return load_tables(DataConfig.from_mapping(trained.config["data"]))[0]


def test_scores_in_chunks_equal_scores_at_once_and_the_task_is_the_same_call(trained, tables, monkeypatch):
    scorer = trained.job.result.scorer
    whole, features = batch.score_accounts(tables, scorer, AS_OF, "7")
    monkeypatch.setattr(batch, "CHUNK", 97)  # many chunks, the last one short
    chunked, _ = batch.ScoringTask(scorer, AS_OF, "7")(tables)
    pd.testing.assert_frame_equal(chunked, whole)
    assert len(whole) > 3 * 97 and len(whole) == len(features)


def test_the_scores_table_has_the_contracts_shape(trained, tables):
    scorer = trained.job.result.scorer
    scores, features = batch.score_accounts(tables, scorer, AS_OF, 7)
    assert list(scores.columns[:2]) == ["account_id", "as_of"] and scores.columns[-1] == "model_version"
    assert {"score", "intent_tier", "fit_tier", "pql_tier", "reasons"} <= set(scores.columns)
    assert scores["account_id"].tolist() == features["account_id"].tolist()
    assert scores["account_id"].is_unique and (scores["as_of"] == AS_OF).all()
    assert scores["pql_tier"].dtype == "Int64" and (scores["model_version"] == "7").all()
    assert scores["score"].between(0, 1).all()
    # predict is what the logged model returns, row for row
    head = batch.predict(scorer, features.head(5))
    pd.testing.assert_frame_equal(head, scores.drop(columns=["account_id", "as_of", "contacts", "model_version"]).head(5)
                                  .astype({"pql_tier": head["pql_tier"].dtype}))


def test_each_scored_account_gets_its_contacts_after_its_reasons(trained, tables):
    scores, _ = batch.score_accounts(tables, trained.job.result.scorer, AS_OF, "7")
    columns = list(scores.columns)
    assert columns.index("contacts") == columns.index("reasons") + 1
    # every eligible account has its signer-up at least; at most three people each, decision makers first
    assert scores["contacts"].notna().all()
    assert scores["contacts"].str.count("; ").max() == 2
    first = scores["contacts"].str.split("; ").str[0]
    has_buyer = scores["contacts"].str.contains("decision maker")
    assert first[has_buyer].str.contains("decision maker").all()
    rows = pd.Index(tables.accounts["account_id"]).get_indexer(scores["account_id"])
    spec = trained.job.result.scorer.spec
    assert spec.buyers and scores["contacts"].tolist() == contacts(tables, rows, instant_us(AS_OF), spec.buyers).tolist()


def test_no_users_table_no_contacts_but_a_model_with_people_features_needs_one(trained, tables):
    from dataclasses import replace

    from features.errors import DataError

    assert batch.contacts_of(replace(tables, users=None), tables.accounts["account_id"], AS_OF, {}) is None
    with pytest.raises(DataError, match="table 'users': is missing"):
        batch.score_accounts(replace(tables, users=None), trained.job.result.scorer, AS_OF, "7")
