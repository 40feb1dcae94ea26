"""The pipeline on demo worlds with real-data quirks (demo.VARIANTS): each quirk handled as the
issue "Your own data, trusted" asks, with default settings (no MLflow: ``run_training`` directly)."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from features.data.load import load_tables
from train.settings import settings_for
from train.origin import Origin
from train.pipeline import run_training

SMALL = ["data.demo.accounts=1200", "data.demo.start=2024-01-01", "progress=false", "backtest.baseline=null"]


@functools.lru_cache(maxsize=None)
def trained(*overrides: str):
    """(result, load report) of a training run on a demo variant (cached: several tests read one run)."""
    from app.paths import CONF_DIR
    from tests.conftest import compose_plain

    config = compose_plain("train", [*SMALL, *overrides])
    settings, data, notes = settings_for(config, CONF_DIR)
    tables, report = load_tables(data)
    return run_training(tables, settings, Origin(notes=tuple(notes))), report


def beats_chance(result) -> None:
    m = result.metrics
    assert m["roc_auc"] > 0.6 and m["precision_at_capacity"] > 2 * m["base_rate"], m


def test_a_twenty_week_log_trains_and_backtests_at_thirty_days():
    result, _ = trained("data.demo.days=140")
    assert len(result.folds) >= 3
    assert result.health["share_of_history_for_training"] >= 0.6
    beats_chance(result)


def test_accounts_that_sign_up_between_snapshots_are_judged_on_their_first_midnight():
    result, _ = trained("data.demo.days=140")
    test = result.test
    first = test["looked_at"] != test["as_of"]
    assert first.any() and result.counts["n_first_looks"] >= first.sum()
    # counted in the week of the snapshot before the look, each account once a week
    days = (test["looked_at"] - test["as_of"])[first] / pd.Timedelta(days=1)
    assert days.between(1, 6).all() and not test.duplicated(["account_id", "as_of"]).any()


def test_labels_recorded_late_are_excluded_with_a_warning_naming_the_dates():
    result, _ = trained("data.demo.days=300", "data.demo.labels_after_days=120")
    first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=120)
    censored = pd.to_datetime(result.health["censored_snapshots"])
    assert len(censored) > 0 and (censored < first).all()
    assert min(result.plan.final_train) >= first - pd.Timedelta(days=7)
    warning = next(w for w in result.warnings if "recorded only from" in w)
    assert "backtest.exclude_censored=false" in warning and str(censored[0].date()) in warning
    beats_chance(result)


def test_a_stale_pool_is_reported():
    result, _ = trained("data.demo.days=240", "data.demo.stale_share=1.0", "backtest.stale_warn=0.3")
    newest = result.health["snapshots"][-1]
    assert newest["stale_share"] > 0.3
    assert any("stale" in w and "backtest.stale_warn" in w for w in result.warnings)
    beats_chance(result)


def test_without_fit_columns_fit_is_unknown_and_tier_one_is_sized_by_capacity():
    # no users either: who is in the account (features.families.people) is fit too
    result, _ = trained("data.demo.days=240", "data.demo.fit_columns=false", "data.demo.users=false", "rules=none",
                        "capacity.per_week=20")
    test = result.test
    assert (test["fit_tier"] == "unknown").all()
    assert set(test["pql_tier"].dropna().unique()) <= {1}
    assert any("fit is unknown" in w for w in result.warnings)
    weekly = np.mean([f["tier1_per_snapshot"] for f in result.folds])
    assert 0.6 * 20 <= weekly <= 1.5 * 20, weekly
    rates = result.tier_rates.set_index("pql_tier")["conversion_rate"]
    assert rates["1"] > rates["none"]


def test_a_single_event_type():
    result, _ = trained("data.demo.days=240", "data.demo.single_event=true", "rules=none")
    assert result.spec.event_types == ("activity",)
    beats_chance(result)


def test_day_resolution_timestamps_keep_repeated_rows():
    result, report = trained("data.demo.days=240", "data.demo.day_resolution=true")
    assert "events: exact duplicates" not in report.set_aside
    assert any("day resolution" in note for note in report.notes)
    beats_chance(result)


def test_an_id_like_column_is_neither_a_feature_nor_a_reason():
    result, _ = trained("data.demo.days=240", "data.demo.id_column=true")
    assert "external_id" in result.spec.dropped_columns and "external_id" not in result.spec.names


def test_bare_data_meeting_only_the_contract():
    result, _ = trained("data.demo.days=200", "data.demo.fit_columns=false", "data.demo.single_event=true",
                        "data.demo.touches=false", "data.demo.user_ids=false", "rules=none")
    assert list(result.comparison["name"]) == ["learned"]  # no hand rules: only the learned definitions
    beats_chance(result)


def test_a_rule_that_flags_nobody_reports_zero_and_a_warning(tmp_path):
    path = tmp_path / "my_rules.yaml"
    path.write_text("definitions:\n  never:\n    expression: events_count_7d > 1000000\n"
                    "  active:\n    expression: events_count_7d >= 20\n")
    result, _ = trained("data.demo.days=140", f"rules.file={path}")
    row = result.comparison.set_index("name").loc["never"]
    assert row["flagged"] == 0 and row["precision"] == 0 and row["lift"] == 0
    assert any("'never' flags nobody" in w for w in result.warnings)


@pytest.mark.parametrize("variant", ["short_log", "late_labels", "no_fit"])
def test_the_model_is_at_least_as_good_as_chance_on_every_fold(variant):
    overrides = {"short_log": ("data.demo.days=140",),
                 "late_labels": ("data.demo.days=300", "data.demo.labels_after_days=120"),
                 "no_fit": ("data.demo.days=240", "data.demo.fit_columns=false", "rules=none",
                            "capacity.per_week=20")}[variant]
    result, _ = trained(*overrides)
    reported = [f for f in result.folds if f["reported"]]  # model=auto: the first fold only informs the choice
    assert reported and all(f["roc_auc"] > 0.55 for f in reported), [f["roc_auc"] for f in result.folds]


def test_the_demo_rules_a_variant_cannot_evaluate_are_left_out_with_a_warning():
    result, _ = trained("data.demo.days=240", "data.demo.fit_columns=false")  # rules=auto: the demo's own
    names = set(result.comparison["name"])
    assert "good_fit" not in names and "active_team" in names  # good_fit reads industry, which is not there
    assert any("good_fit" in w and "rules=none" in w for w in result.warnings)


def test_a_fold_model_has_only_the_columns_known_when_its_fold_began():
    from features.config import DataConfig
    from features.data.load import load_frames
    from demo import DemoConfig, generate_demo
    from app.paths import CONF_DIR
    from tests.conftest import compose_plain

    world = generate_demo(DemoConfig(accounts=1200, days=240, start="2024-01-01"))
    events = world.events.copy()
    late = (events["event"] == "billing_page_viewed") & (events["timestamp"] >= pd.Timestamp("2024-08-01"))
    events.loc[late, "event"] = "new_feature_used"  # an event type that exists only in the newest weeks
    config = compose_plain("train", [*SMALL, "data.demo.days=240", "rules=none"])
    settings, _, _ = settings_for(config, CONF_DIR)
    tables, _ = load_frames({"accounts": world.accounts, "events": events, "conversions": world.conversions,
                             "touches": world.touches}, DataConfig())
    result = run_training(tables, settings)
    assert "new_feature_used_count_7d" in result.spec.names
    early = [f for f in result.folds if f["test"][0] < "2024-08-01"]
    assert early and all(f["n_features"] < len(result.spec.names) for f in early)


def test_on_a_daily_grid_the_weekly_capacity_is_a_seventh_a_day_everywhere():
    result, _ = trained("data.demo.days=120", "snapshots.every_days=1", "capacity.per_week=21", "model=lightgbm")
    meta = result.scorer.meta
    assert (meta["capacity_per_week"], meta["every_days"], meta["calls_per_snapshot"]) == (21, 1, 3)
    c = result.capacity
    assert c["capacity_per_week"] == 21
    assert result.learned is None or result.learned.budget == 3  # the learned list's budget: 3 a day
    tier_1 = result.tier_rates.set_index("pql_tier").loc["1"]
    assert tier_1["per_snapshot"] <= 3 * 3  # tier 1 sized for 3 calls a day (not 21)
    # precision at capacity: the top 3 of each daily snapshot
    test = result.test[result.test["reported"]] if "reported" in result.test else result.test
    top = test.sort_values("log_odds", ascending=False).groupby("as_of").head(3)
    assert result.metrics["precision_at_capacity"] == pytest.approx(top["label"].mean(), abs=1e-9)
