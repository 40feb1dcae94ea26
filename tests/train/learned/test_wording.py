"""Learned conditions in a sales team's words (train.learned.wording): recency, signup, counts, categories, labels."""
from __future__ import annotations

from features.families import activity, key_events, recency, usage
from features.spec import Column, FeatureSpec
from train.learned.rules import Condition, LearnedRule
from train.learned.wording import condition_words

_COLUMNS = {c.name: c for c in [*recency.columns(), *key_events.columns(["Upgrade Clicked"]),
                                *usage.columns(["Video Watched"], ["Video Watched"], [7],
                                               {"video_watched": "minutes watched"}),
                                *activity.columns((7,), has_users=False, trend_days=7)]}


def words(feature: str, op: str, value) -> str:
    return condition_words(feature, op, value, _COLUMNS[feature])


def test_recency_and_signup_read_as_people_say_them():
    """Issue 19: "signed up in the last 50 days", "active today", never "last active at most 0 days ago"."""
    assert words("days_since_signup", "<=", 50.0) == "signed up in the last 50 days"
    assert words("days_since_signup", ">=", 90.0) == "signed up at least 90 days ago"
    assert words("days_since_last_event", "<=", 0.0) == "active today"
    assert words("days_since_last_event", "<=", 0.5) == "active today"
    assert words("days_since_last_event", "<=", 3.0) == "active in the last 4 days"
    assert words("days_since_last_event", ">=", 14.0) == "last active 14 or more days ago"
    assert words("days_to_first_upgrade_clicked", "<=", 2.0) == "first 'Upgrade Clicked' within 2 days of signup"


def test_counts_and_quantities_use_the_labels_and_people_s_numbers():
    watched = condition_words("video_watched_quantity_7d", ">=", 10.0, _COLUMNS["video_watched_quantity_7d"],
                              {"video_watched": "minutes watched"})
    assert watched == "at least 10 minutes watched in the last 7 days"
    assert words("video_watched_count_7d", ">=", 15000.0) == "'minutes watched' at least 15,000 times in the last 7 days"
    assert words("active_days_7d", ">=", 3.0) == "active on at least 3 of the last 7 days"


def test_a_rule_reads_its_categories_and_unknown_columns_by_their_display_names():
    spec = FeatureSpec(windows=(7,), labels={"sales_region": "region"}, columns=(
        Column("country_code", "category", "fit", "country code: {value}", ("DE", "FR", "US", "JP")),))
    rule = LearnedRule("learned_1", (Condition("country_code", "not in", ("JP",)),
                                     Condition("sales_region", "in", ("AMER", "EMEA")),
                                     Condition("amount_req", ">=", 15000.0)))
    assert rule.words(spec) == ("country code: any but JP and region: AMER or EMEA and amount req: at least 15,000")
