"""Typed views of the training config groups (built from Hydra's config in ``__main__``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from features.config import FeatureConfig, LabelConfig, SnapshotConfig, _pick


TREE_CHOICES = ("once", "per_fold")  # how backtest.trees picks LightGBM's number of trees


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
    # models learn from this share of their non-converting rows, weighted 1/share; "auto": all of them up to
    # max_negatives, a seeded sample of that many above (each model by its own rows: point in time)
    negative_share: float | str = "auto"
    max_negatives: int = 150_000
    trees: str = "once"             # LightGBM's number of trees: picked "once" (oldest fold) or "per_fold"

    def __post_init__(self) -> None:
        from features.errors import ConfigError

        share = self.negative_share
        number = isinstance(share, (int, float)) and not isinstance(share, bool)
        if share != "auto" and not (number and 0 < share <= 1):
            raise ConfigError(f"backtest.negative_share: {share!r} must be 'auto' or a number in (0, 1] "
                              f"(the share of non-converting rows the models learn from)")
        if isinstance(self.max_negatives, bool) or not isinstance(self.max_negatives, int) or self.max_negatives < 1000:
            raise ConfigError(f"backtest.max_negatives: {self.max_negatives!r} must be a whole number >= 1000")
        if self.trees not in TREE_CHOICES:
            raise ConfigError(f"backtest.trees: {self.trees!r} is not one of {list(TREE_CHOICES)}")

    def share_for(self, negatives: int) -> float:
        """The share of non-converting rows a model learns from, given how many its training rows hold.

        >>> BacktestConfig().share_for(100_000), BacktestConfig().share_for(600_000)
        (1.0, 0.25)
        """
        if self.negative_share != "auto":
            return float(self.negative_share)
        return 1.0 if negatives <= self.max_negatives else self.max_negatives / negatives


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


def _config_error(message: str) -> None:
    from features.errors import ConfigError

    raise ConfigError(message)


@dataclass(frozen=True)
class LearnedConfig:
    """Learned PQL definitions (``evaluation.learned``, :mod:`train.definitions`)."""

    enabled: bool = True
    max_rules: int = 5           # at most this many rules ...
    max_conditions: int = 3      # ... of at most this many conditions each
    min_converters: int = 10     # a rule must add at least this many converters on the training rows
    confidence: float = 0.95     # of the Wilson lower bound on the precision a rule adds
    round_tolerance: float = 0.05  # a rounder threshold may cost this share of that bound (0.05: 5%)
    trees: int = 20              # trees of the random forest that proposes candidate rules
    refine: int = 0              # the best this many candidates of each step get their thresholds tuned (0: none)
    narrow: int = 15             # this many of the best candidates too big for the budget are narrowed to fit it
    min_rule_share: float = 0.5  # a rule adds at least this share of (budget left / rules left) accounts
    min_leaf_share: float = 0.2  # smallest tree leaf, as a share of the budget's volume over the training rows
    max_rows: int = 250_000      # learn from a uniform sample of at most this many rows
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_rules <= 10:
            _config_error(f"evaluation.learned.max_rules: {self.max_rules} is not between 1 and 10")
        if not 1 <= self.max_conditions <= 5:
            _config_error(f"evaluation.learned.max_conditions: {self.max_conditions} is not between 1 and 5")
        if self.min_converters < 1:
            _config_error(f"evaluation.learned.min_converters: {self.min_converters} must be at least 1")
        if not 0.5 <= self.confidence < 1:
            _config_error(f"evaluation.learned.confidence: {self.confidence} must be in [0.5, 1)")
        if self.round_tolerance < 0 or self.trees < 1 or self.min_leaf_share <= 0 or self.max_rows < 1000:
            _config_error("evaluation.learned: round_tolerance >= 0, trees >= 1, min_leaf_share > 0 and "
                          f"max_rows >= 1000 are required, got {self}")


@dataclass(frozen=True)
class EvaluationConfig:
    capacity_per_week: int = 50
    reps: int | None = None                       # with accounts_per_rep_per_week: capacity = their product
    accounts_per_rep_per_week: int | None = None
    learned: LearnedConfig = field(default_factory=LearnedConfig)
    top_fractions: tuple[float, ...] = (0.01, 0.05, 0.1)
    ece_bins: int = 10
    champion_metric: str = "pr_auc"
    champion_higher_is_better: bool = True  # kept for old configs; the metric decides (CHAMPION_METRICS)
    promote: str = "auto"  # auto: a single run that beats the champion on the same rows; never; force

    def __post_init__(self) -> None:
        check_champion_metric(self.champion_metric)
        if (self.reps is None) != (self.accounts_per_rep_per_week is None):
            _config_error("evaluation: set both reps and accounts_per_rep_per_week (their product is the weekly "
                          "capacity) or neither")
        if self.reps is not None:
            if self.reps < 1 or self.accounts_per_rep_per_week < 1:
                _config_error(f"evaluation: reps ({self.reps}) and accounts_per_rep_per_week "
                              f"({self.accounts_per_rep_per_week}) must be at least 1")
            # the team's size decides: every use of capacity_per_week (tier 1, budgets, metrics) follows it
            object.__setattr__(self, "capacity_per_week", int(self.reps) * int(self.accounts_per_rep_per_week))
        if self.capacity_per_week < 1:
            _config_error(f"evaluation.capacity_per_week: {self.capacity_per_week} must be at least 1")
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

    @property
    def capacity_per_snapshot(self) -> float:
        """The weekly sales capacity over one snapshot period (``snapshots.every_days``)."""
        return self.evaluation.capacity_per_week * self.snapshots.every_days / 7

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> "TrainSettings":
        """From the plain (resolved) training config."""
        evaluation = _pick(EvaluationConfig, cfg.get("evaluation"))
        evaluation["top_fractions"] = tuple(evaluation.get("top_fractions", (0.01, 0.05, 0.1)))
        evaluation["learned"] = LearnedConfig(**_pick(LearnedConfig, evaluation.get("learned")))
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
