"""Everything ``python -m train`` needs besides the data, as one typed value built from the plain config."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from features.config import DataConfig, FeatureConfig, LabelConfig, SnapshotConfig, pick
from rules.files import resolve_rules
from train.config import (BacktestConfig, CalibrationConfig, CapacityConfig, LearnedConfig, ModelConfig,
                          PromotionConfig, TierConfig, TrackingConfig)

__all__ = ["TrainSettings", "typed", "settings_for"]


def typed(cls: type, values: Mapping[str, Any] | None) -> Any:
    """A typed config group from its plain mapping (unknown keys are a ConfigError; tuples from lists)."""
    values = pick(cls, values)
    for f in fields(cls):
        if isinstance(values.get(f.name), list) and "tuple" in str(f.type):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


@dataclass(frozen=True)
class TrainSettings:
    """The training config groups, typed, plus the rules to compare with (resolved from ``rules``)."""

    features: FeatureConfig
    snapshots: SnapshotConfig
    label: LabelConfig
    backtest: BacktestConfig
    model: ModelConfig
    calibration: str
    capacity: CapacityConfig
    promotion: PromotionConfig
    learned: LearnedConfig
    tiers: TierConfig
    rules: dict[str, dict[str, str]]
    progress: bool = False
    # the rules are the ones the data source brings (rules=auto): a rule that reads a feature this source
    # lacks (a demo variant without fit columns, say) is left out with a note instead of failing the run
    rules_brought: bool = False

    @property
    def capacity_per_week(self) -> int:
        """Accounts sales can contact a week."""
        return self.capacity.weekly

    @property
    def capacity_per_snapshot(self) -> float:
        """The weekly sales capacity over one snapshot period (``snapshots.every_days``)."""
        return self.capacity.weekly * self.snapshots.every_days / 7

    @property
    def calls_per_snapshot(self) -> int:
        """The accounts called from each snapshot: the weekly capacity over one snapshot period, rounded (at
        least one). "At capacity" means a snapshot's top this many, whatever ``snapshots.every_days`` is."""
        return max(1, int(round(self.capacity_per_snapshot)))

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> "TrainSettings":
        """From the plain (resolved) training config."""
        return cls(
            features=FeatureConfig.from_mapping(cfg.get("features")),
            snapshots=SnapshotConfig.from_mapping(cfg.get("snapshots")),
            label=LabelConfig.from_mapping(cfg.get("label")),
            backtest=typed(BacktestConfig, cfg.get("backtest")),
            model=ModelConfig.from_mapping(cfg.get("model") or {}),
            calibration=typed(CalibrationConfig, cfg.get("calibration")).method,
            capacity=typed(CapacityConfig, cfg.get("capacity")),
            promotion=typed(PromotionConfig, cfg.get("promotion")),
            learned=typed(LearnedConfig, cfg.get("learned")),
            tiers=typed(TierConfig, cfg.get("tiers")),
            rules=dict((cfg.get("rules") or {}).get("definitions") or {}),
            progress=bool(cfg.get("progress", False)),
        )


def settings_for(config: Mapping[str, Any], conf_dir: str | Path) -> tuple[TrainSettings, DataConfig, list[str]]:
    """Typed settings with what the data source brings filled in where the config leaves it unset (the
    demo world's key events, plan limit and rules, ``conf/data/demo.yaml``; nothing on your data), checked
    before any data is read; plus notes to print. ``conf_dir`` holds the shipped rule sets."""
    data = DataConfig.from_mapping(config["data"])
    settings = TrainSettings.from_mapping(config)
    brings = data.brings()
    rules = resolve_rules(config.get("rules"), brings.get("rules"), conf_dir)
    chosen = config.get("rules") or {}
    brought = bool(brings.get("rules")) and chosen.get("definitions") is None and not chosen.get("file")
    settings = replace(settings, rules=rules.definitions, features=settings.features.for_source(data),
                       rules_brought=brought)
    return settings, data, [rules.note] if rules.note else []
