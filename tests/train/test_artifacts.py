"""The files a training run writes beside its summary (train.artifacts): the backtest's predictions, the
learned rules file only when there is one, and the backtest tables by CSV name, optional ones only when filled."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from train.artifacts import backtest_tables, write_backtest


def _result(**overrides) -> SimpleNamespace:
    base = dict(test=pd.DataFrame({"account_id": ["a", "b"], "score": [0.1, 0.9]}), learned_rules_yaml="",
                comparison=pd.DataFrame({"name": ["x"]}), deciles=pd.DataFrame({"decile": [1]}),
                tier_rates=pd.DataFrame({"pql_tier": ["1"]}), folds=[{"fold": 0}, {"fold": 1}],
                importance=pd.Series([0.5, 0.2], index=["seats", "events_count_7d"]),
                definitions=None, learned_overlap=pd.DataFrame(), revenue=pd.DataFrame({"name": ["model"]}))
    return SimpleNamespace(**{**base, **overrides})


def test_predictions_always_and_the_rules_file_only_when_definitions_were_learned(tmp_path):
    assert write_backtest(_result(), tmp_path) == [tmp_path / "predictions.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "predictions.parquet"), _result().test)
    yaml = "definitions:\n  learned_1: {expression: seats > 3}\n"
    written = write_backtest(_result(learned_rules_yaml=yaml), tmp_path)
    assert written == [tmp_path / "predictions.parquet", tmp_path / "learned_rules.yaml"]
    assert (tmp_path / "learned_rules.yaml").read_text() == yaml


def test_the_tables_by_csv_name_without_empty_optional_ones():
    tables = backtest_tables(_result())
    assert sorted(tables) == ["comparison.csv", "deciles.csv", "folds.csv", "importance.csv", "pql_tiers.csv",
                              "revenue.csv"]  # no learned definitions, an empty overlap
    assert tables["folds.csv"]["fold"].tolist() == [0, 1]
    assert tables["importance.csv"].to_dict("list") == {"feature": ["seats", "events_count_7d"],
                                                        "mean_abs_contribution": [0.5, 0.2]}
    learned = backtest_tables(_result(definitions=pd.DataFrame({"name": ["learned_1"]}),
                                      learned_overlap=pd.DataFrame({"rule": ["x"]})))
    assert {"learned_definitions.csv", "learned_overlap.csv"} <= set(learned)
