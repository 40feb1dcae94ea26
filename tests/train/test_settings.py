"""Training settings (train.settings): typed from the composed config, checked, capacity per snapshot."""
from __future__ import annotations

import pytest

from features.errors import ConfigError
from train.config import CapacityConfig, LearnedConfig
from train.settings import TrainSettings


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
