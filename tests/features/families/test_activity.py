"""The activity family (features.families.activity): its columns' wording."""
from __future__ import annotations

from features.families.activity import columns


def test_breadth_with_a_single_event_type_only_says_whether_the_account_was_active():
    many = {c.name: c for c in columns((7, 30), has_users=False, trend_days=7)}
    one = {c.name: c for c in columns((7, 30), has_users=False, trend_days=7, one_type=True)}
    assert many["event_types_7d"].text == "{value} different product action{s} in the last 7 days"
    assert one["event_types_30d"].text == "active in the last 30 days"
    assert one["event_types_7d"].zero == one["active_days_7d"].zero == "not active in the last 7 days"
