"""The typed config groups of the feature builder (features.config): features.labels."""
from __future__ import annotations

from features.config import FeatureConfig


def test_labels_are_a_mapping_of_text_and_empty_by_default():
    assert FeatureConfig().labels is None and FeatureConfig.from_mapping({"labels": None}).labels is None
    config = FeatureConfig.from_mapping({"labels": {"w_completeren_aanvraag_start": "application form started",
                                                    "team_size": 12}})
    assert config.labels == {"w_completeren_aanvraag_start": "application form started", "team_size": "12"}
