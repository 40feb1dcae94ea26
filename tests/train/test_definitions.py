"""Learned PQL definitions, expected value and the capacity settings (train.learned, train.value)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from features.errors import ConfigError
from rules.language import RuleSet
from rules.files import resolve_rules
from features.spec import Column, FeatureSpec
from train import learned as D
from train.evaluate import rate_interval
from train.config import CapacityConfig, LearnedConfig
from train.settings import TrainSettings
from train.value import AmountModel, revenue_table, row_amounts

SPEC = FeatureSpec(windows=(30,), columns=(
    Column("api_call_quantity_30d", "quantity", "usage", "total quantity of 'api call' in the last 30 days: {value}"),
    Column("events_count_30d", "count", "usage", "{value} product action{s} in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats: {value} of the plan limit used"),
    Column("industry", "category", "fit", "industry: {value}", categories=("software", "retail", "media")),
))


def _world(n_snapshots: int = 12, per_snapshot: int = 600, seed: int = 0):
    """Converters are the accounts with 100+ API calls and seats at 80%+ of the limit (plus a little noise);
    nobody makes 96 to 99 calls, so a tree's cut lands between 95 and 100."""
    rng = np.random.default_rng(seed)
    n = n_snapshots * per_snapshot
    api = np.floor(rng.exponential(40, n))
    api = np.where((api >= 96) & (api < 100), 95, api)
    ratio = np.round(rng.uniform(0, 1, n), 2)
    ratio[rng.random(n) < 0.05] = np.nan  # plan limit unknown: a missing value never satisfies a condition
    events = np.floor(rng.exponential(20, n))
    industry = pd.Categorical(rng.choice(["software", "retail", "media"], n), categories=["software", "retail", "media"])
    hot = (api >= 100) & (ratio >= 0.8)
    y = (rng.random(n) < np.where(hot, 0.7, 0.01)).astype(int)
    snapshot = np.repeat(pd.date_range("2024-01-01", periods=n_snapshots, freq="7D").to_numpy("datetime64[us]"),
                         per_snapshot)
    X = pd.DataFrame({"api_call_quantity_30d": api, "events_count_30d": events, "seats_used_ratio": ratio,
                      "industry": industry})
    return X, y, snapshot


CONFIG = LearnedConfig(trees=10)


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def learned(world):
    X, y, snapshot = world
    return D.learn(X, y, snapshot, SPEC, budget=40, config=CONFIG)


def test_learns_the_readable_rule_behind_the_converters(learned):
    first = learned.learned[0]
    assert first.signature == {("api_call_quantity_30d", ">="), ("seats_used_ratio", ">=")}
    # the tree put the threshold between observed values; the list reads the round number nearby
    values = {c.feature: c.value for c in first.conditions}
    assert values["api_call_quantity_30d"] == 100 and values["seats_used_ratio"] == 0.8
    assert first.expression == "api_call_quantity_30d >= 100 and seats_used_ratio >= 0.8"
    assert "at least 100" in first.words(SPEC) and "at least 80%" in first.words(SPEC)


def test_the_list_keeps_its_limits(world, learned):
    X, y, snapshot = world
    assert 1 <= len(learned.learned) <= CONFIG.max_rules
    for rule in learned.learned:
        assert len(rule.conditions) <= CONFIG.max_conditions
        assert rule.added_converted >= CONFIG.min_converters
        # usage counts are only ever lower bounds
        assert not any(c.op == "<=" for c in rule.conditions if c.feature in ("api_call_quantity_30d",
                                                                              "events_count_30d"))
    newest = np.isin(snapshot, np.unique(snapshot)[-4:])
    assert learned.volume <= learned.budget
    assert learned.flags(X)[newest].sum() / 4 == pytest.approx(learned.volume)


def test_a_tighter_budget_flags_fewer_accounts(world):
    X, y, snapshot = world
    small = D.learn(X, y, snapshot, SPEC, budget=10, config=CONFIG)
    assert 0 < small.volume <= 10
    assert D.learn(X, y, snapshot, SPEC, budget=0.1, config=CONFIG).learned == ()


def test_flags_match_the_rule_language_and_the_yaml_is_a_rules_file(world, learned, tmp_path):
    X, _, _ = world
    assert np.array_equal(learned.flags(X), learned.ruleset().any_rule(X).to_numpy())
    path = tmp_path / "learned_rules.yaml"
    path.write_text(learned.to_yaml())
    resolved = resolve_rules({"definitions": None, "file": str(path)}, None, conf_dir="conf")
    rules = RuleSet.from_config(resolved.definitions)
    assert rules.names == learned.names
    assert np.array_equal(rules.any_rule(X).to_numpy(), learned.flags(X))
    assert yaml.safe_load(path.read_text())["definitions"]["learned_1"]["description"] == learned.rules[
        "learned_1"]["description"]


def test_categories_become_in_lists(world):
    X, y, snapshot = world
    y = ((X["industry"] == "software").to_numpy() & (X["events_count_30d"] >= 30).to_numpy()).astype(int)
    out = D.learn(X, y, snapshot, SPEC, budget=200, config=CONFIG)
    assert "industry in ['software']" in out.learned[0].expression
    assert np.array_equal(out.flags(X), out.ruleset().any_rule(X).to_numpy())


def test_round_values_and_the_bound():
    assert D.round_values(97)[0] == 100 and 95 in D.round_values(97)
    assert D.round_values(0.83)[0] == 0.8
    low, _ = rate_interval(7, 40)
    assert float(D.wilson_low(7, 40, 0.95)) == pytest.approx(low)


def test_fold_lists_learn_only_from_their_training_rows(world):
    """Point in time: relabelling a fold's test rows changes neither its list nor its flags."""
    X, y, snapshot = world
    times = np.unique(snapshot)
    train, test = np.isin(snapshot, times[:8]), np.isin(snapshot, times[9:])
    folds = [(train, test, SPEC)]
    a = D.backtest(X, y, snapshot, folds, train | test, SPEC, 40, CONFIG)
    flipped = y.copy()
    flipped[test] = 1 - flipped[test]
    b = D.backtest(X, flipped, snapshot, folds, train, SPEC, 40, CONFIG)
    assert np.array_equal(a.test_flags, b.test_flags) and a.test_flags.any()
    assert a.folds[0].expressions == b.folds[0].expressions
    assert a.table["stability"].iloc[0] == 1.0  # the production rule reappears in the fold's list
    assert {"name", "expression", "words", "stability", "flagged", "converted", "precision"} <= set(a.table)


def test_overlap_counts_conversions_found_by_each_side():
    y = np.array([1, 1, 0, 1, 0])
    learned = np.array([True, True, False, False, False])
    hand = pd.DataFrame({"rule_a": [False, True, True, True, False]})
    row = D.overlap(learned, hand, y).iloc[0]
    assert (row["learned_only"], row["learned_only_converted"], row["rule_only"], row["rule_only_converted"],
            row["both"], row["both_converted"]) == (1, 1, 2, 1, 1, 1)


def test_learned_settings_are_checked_and_capacity_follows_the_team():
    with pytest.raises(ConfigError, match="max_rules"):
        LearnedConfig(max_rules=0)
    assert CapacityConfig(reps=4, accounts_per_rep_per_week=15).weekly == 60
    with pytest.raises(ConfigError, match="reps"):
        CapacityConfig(reps=4)
    settings = TrainSettings.from_mapping({"capacity": {"per_week": 70}, "learned": {"max_rules": 3},
                                           "snapshots": {"every_days": 14}})
    assert settings.learned.max_rules == 3 and settings.capacity_per_snapshot == 140
    with pytest.raises(ConfigError, match="LearnedConfig"):
        TrainSettings.from_mapping({"learned": {"max_rule": 3}})


def test_amount_model_predicts_amounts_from_features_and_round_trips():
    rng = np.random.default_rng(1)
    n = 400
    X = pd.DataFrame({"api_call_quantity_30d": rng.exponential(40, n), "events_count_30d": rng.exponential(20, n),
                      "seats_used_ratio": rng.uniform(0, 1, n),
                      "industry": pd.Categorical(rng.choice(["software", "retail", "media"], n))})
    amount = 1000 * (1 + X["events_count_30d"].to_numpy() / 10) * np.where(X["industry"] == "software", 2, 1)
    model = AmountModel.fit(X, np.where(rng.random(n) < 0.5, amount, np.nan), SPEC)
    predicted = model.predict(X)
    assert np.corrcoef(np.log(predicted), np.log(amount))[0, 1] > 0.9
    assert np.allclose(AmountModel.from_dict(model.to_dict()).predict(X), predicted)
    few = AmountModel.fit(X.head(5), amount[:5], SPEC)
    assert np.allclose(few.predict(X), np.median(amount[:5]))


def test_row_amounts_and_revenue_at_capacity():
    frame = pd.DataFrame({"account_id": ["a", "b", "c", "a"], "label": [1, 0, 1, 0]})
    conversions = pd.DataFrame({"account_id": ["a", "c"], "converted_at": pd.to_datetime(["2024-02-01", "2024-03-01"]),
                                "amount": [100.0, 300.0]})
    assert np.allclose(row_amounts(frame, conversions), [100, np.nan, 300, np.nan], equal_nan=True)
    assert row_amounts(frame, conversions.drop(columns="amount")) is None
    test = pd.DataFrame({"as_of": ["w1"] * 4, "label": [1, 0, 1, 0], "log_odds": [4.0, 3.0, 2.0, 1.0],
                         "expected_value": [10.0, 1.0, 200.0, 0.0], "rule_a": [False, True, True, False]})
    table = revenue_table(test, np.array([100.0, np.nan, 300.0, np.nan]), capacity_per_week=1, every_days=7)
    row = table.set_index("name")
    assert row.loc["a", "revenue"] == 300 and row.loc["a", "revenue_per_week_at_capacity"] == 150  # 1 of its 2 calls
    assert row.loc["model", "revenue_per_week_at_capacity"] == 300  # ranks by expected value
    assert row.loc["model (by probability)", "revenue_per_week_at_capacity"] == 100


# -- in a training run (the session's demo model) ---------------------------------------------------

def test_training_backtests_the_learned_list_out_of_fold(trained):
    result = trained.job.result
    test = result.test
    assert test["learned"].dtype == bool and test["learned"].any()
    row = result.comparison.set_index("name").loc["learned"]
    assert row["flagged"] == test["learned"].sum() and row["model_precision"] >= row["precision"] > 2 * test[
        "label"].mean()
    table = result.definitions
    assert {"name", "expression", "words", "stability", "flagged", "converted", "precision"} <= set(table)
    assert 1 <= len(table) <= 5 and table["stability"].between(0, 1).all()
    assert set(result.learned_overlap["rule"]) == set(result.scorer.rules.names)
    assert {"account_id", "as_of", "label"} <= set(result.frame.columns) and len(result.frame) > len(test)


def test_learned_rules_file_is_a_rule_set_the_trainer_accepts(trained):
    from app.paths import CONF_DIR
    from train.settings import settings_for

    path = trained.root / "learned_rules.yaml"
    assert path.read_text() == trained.job.result.learned_rules_yaml
    config = trained.compose("train", [*trained.demo, f"rules.file={path}"])
    settings, _, _ = settings_for(config, CONF_DIR)
    assert list(settings.rules) == list(trained.job.result.definitions["name"])
    # every learned rule reads features the model has (validate raises otherwise)
    RuleSet.from_config(settings.rules).validate(trained.job.result.spec.names, trained.job.result.spec.categorical)


def test_expected_value_capacity_and_revenue_are_reported(trained, tmp_path):
    from train.scorer import Scorer

    result, summary = trained.job.result, trained.job.summary
    assert (result.test["expected_value"] >= 0).all()
    scored = result.scorer.score(result.input_example, with_reasons=False)
    assert "expected_value" in scored and np.allclose(scored["expected_value"],
                                                      scored["score"] * result.scorer.amount.predict(
                                                          result.spec.align(result.input_example)))
    # the amount model travels in the bundle (amount.json, covered by the manifest)
    loaded = Scorer.load(result.scorer.save(tmp_path / "bundle"))
    assert np.allclose(loaded.score(result.input_example, with_reasons=False)["expected_value"],
                       scored["expected_value"])
    capacity = summary["capacity"]
    assert capacity["capacity_per_week"] == 50 and capacity["best_definition"]
    assert capacity["added_conversions_per_week"] == pytest.approx(
        capacity["model_conversions_per_week"] - capacity["best_conversions_per_week"])
    names = {r["name"] for r in summary["revenue"]}
    assert {"model", "learned list", "active_team"} <= names
    assert "Learned PQL definitions" in trained.job.report and "the model adds" in trained.job.report
    assert "Revenue captured at capacity" in trained.job.report
