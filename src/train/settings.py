"""Typed views of the training config groups (built from Hydra's config in ``__main__``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from features.config import FeatureConfig, LabelConfig, SnapshotConfig, _pick


@dataclass(frozen=True)
class BacktestConfig:
    """The rolling-origin backtest (the `backtest` config group)."""

    folds: int = 4                  # at most this many test folds (fewer on short data)
    test_share: float = 0.3         # the folds cover this newest share of the labelled snapshots
    min_train_snapshots: int = 4    # the oldest fold learns from at least this many matured snapshots
    validation_share: float = 0.2   # newest share of a model's training snapshots that picks the number of trees
    exclude_censored: bool = True   # drop snapshots before conversions are first recorded (left-censored labels)
    baseline: str | None = "logistic"  # a second model backtested beside the main one (null: none)
    reference_snapshots: int = 4    # newest snapshots before a model's cutoff that size its tiers
    stale_days: int = 90            # health: an eligible account with no activity for this long is stale
    stale_warn: float = 0.5         # health: warn when more than this share of eligible accounts is stale


@dataclass(frozen=True)
class ModelConfig:
    """The `model` group: ``name`` picks the estimator, the rest are its settings."""

    name: str = "lightgbm"
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ModelConfig":
        values = dict(values)
        return cls(name=values.pop("name", "lightgbm"), settings=values)


# metrics a new model can be promoted on, and whether higher is better (all measured on the same rows)
CHAMPION_METRICS = {"pr_auc": True, "roc_auc": True, "precision_at_capacity": True, "lift_at_capacity": True,
                    "log_loss": False, "brier": False}


def check_champion_metric(name: object) -> None:
    """An unknown ``evaluation.champion_metric`` is a config error (it would otherwise promote every model)."""
    if name not in CHAMPION_METRICS:
        from features.errors import ConfigError

        raise ConfigError(f"evaluation.champion_metric: '{name}' is not one of {sorted(CHAMPION_METRICS)}")


@dataclass(frozen=True)
class EvaluationConfig:
    capacity_per_week: int = 50
    top_fractions: tuple[float, ...] = (0.01, 0.05, 0.1)
    ece_bins: int = 10
    champion_metric: str = "pr_auc"
    champion_higher_is_better: bool = True  # kept for old configs; the metric decides (CHAMPION_METRICS)
    promote: str = "auto"  # auto: a single run that beats the champion on the same rows; never; force

    def __post_init__(self) -> None:
        check_champion_metric(self.champion_metric)
        if self.promote not in ("auto", "never", "force"):
            from features.errors import ConfigError

            raise ConfigError(f"evaluation.promote: '{self.promote}' is not one of ['auto', 'never', 'force']")


@dataclass(frozen=True)
class TierConfig:
    high_intent: float | None = None  # None: the threshold that fills tier 1 with the weekly sales capacity
    medium_intent: float = 0.5
    good_fit: float = 0.6
    medium_fit: float = 0.3
    reasons: int = 3


@dataclass(frozen=True)
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "pql-train"
    registered_model: str = "pql-propensity"
    serve_experiment: str = "pql-serve"


@dataclass(frozen=True)
class TrainSettings:
    """Everything ``python -m train`` needs besides the data."""

    features: FeatureConfig
    snapshots: SnapshotConfig
    label: LabelConfig
    backtest: BacktestConfig
    model: ModelConfig
    calibration: str
    evaluation: EvaluationConfig
    tiers: TierConfig
    rules: dict[str, dict[str, str]]
    progress: bool = False
    # the rules are the demo's own, picked by rules=auto: on a demo variant without the features a rule
    # reads (no fit columns, one event type) that rule is left out with a note instead of failing the run
    rules_fit_the_source: bool = False

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> "TrainSettings":
        """From the plain (resolved) training config."""
        evaluation = _pick(EvaluationConfig, cfg.get("evaluation"))
        evaluation["top_fractions"] = tuple(evaluation.get("top_fractions", (0.01, 0.05, 0.1)))
        return cls(
            features=FeatureConfig.from_mapping(cfg.get("features")),
            snapshots=SnapshotConfig.from_mapping(cfg.get("snapshots")),
            label=LabelConfig.from_mapping(cfg.get("label")),
            backtest=BacktestConfig(**_pick(BacktestConfig, cfg.get("backtest"))),
            model=ModelConfig.from_mapping(cfg.get("model") or {}),
            calibration=str((cfg.get("calibration") or {}).get("method", "auto")),
            evaluation=EvaluationConfig(**evaluation),
            tiers=TierConfig(**_pick(TierConfig, cfg.get("tiers"))),
            rules=dict((cfg.get("rules") or {}).get("definitions") or {}),
            progress=bool(cfg.get("progress", False)),
        )
