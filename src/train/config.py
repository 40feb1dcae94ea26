"""The training config groups, typed: each dataclass is the one place its keys, types and defaults are
written (Hydra's ConfigStore registers schemas made from them, ``app.schema``; the YAML files under
``conf/`` only choose and change values). ``__post_init__`` checks what a type cannot say (ranges, choices):
a bad value is a ConfigError (exit 2) before any data is read.

>>> CapacityConfig(per_week=50).weekly, CapacityConfig(reps=3, accounts_per_rep_per_week=20).weekly
(50, 60)
>>> PromotionConfig(metric="accuracy")
Traceback (most recent call last):
...
features.errors.ConfigError: promotion.metric: 'accuracy' is not one of ['brier', 'lift_at_capacity', 'log_loss', 'pr_auc', 'precision_at_capacity', 'roc_auc']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from features.errors import ConfigError

TREE_CHOICES = ("once", "per_fold")  # how backtest.trees picks LightGBM's number of trees
# metrics a new model can be promoted on, and whether higher is better (all measured on the same rows)
CHAMPION_METRICS = {"pr_auc": True, "roc_auc": True, "precision_at_capacity": True, "lift_at_capacity": True,
                    "log_loss": False, "brier": False}
PROMOTION_MODES = ("auto", "never", "force")
CALIBRATION_METHODS = ("auto", "none", "sigmoid", "isotonic")


def _fail(message: str) -> None:
    raise ConfigError(message)


@dataclass(frozen=True)
class BacktestConfig:
    """The rolling-origin backtest (group ``backtest``): folds over the newest labelled snapshots, each scored
    by a model trained only on snapshots whose labels had matured before the fold began."""

    folds: int = 4                  # at most this many test folds (fewer on short data)
    test_share: float = 0.3         # the folds cover this newest share of the labelled snapshots
    min_train_snapshots: int = 4    # the oldest fold learns from at least this many matured snapshots
    validation_share: float = 0.2   # newest share of a model's training snapshots that picks the number of trees
    exclude_censored: bool = True   # leave out snapshots before conversions are first recorded (left-censored labels)
    baseline: str | None = "logistic"  # a second model backtested beside the main one (null: none)
    reference_snapshots: int = 4    # the newest snapshots a model could see size its tiers
    stale_days: int = 90            # health: an eligible account with no activity for this long is stale
    stale_warn: float = 0.5         # health: warn when more than this share of the newest snapshot is stale
    # models learn from this share of their non-converting rows (a seeded sample), each weighted 1/share so
    # probabilities stay calibrated; "auto": all of them up to max_negatives, a sample of that many above (each
    # model by its own rows, so a fold samples as production would have on its date)
    negative_share: float | str = "auto"
    # weekly rows of the same accounts repeat themselves: ~100k non-converters teach a model nearly as much as
    # millions, in a fraction of the time
    max_negatives: int = 150_000
    # LightGBM's number of trees by early stopping: "once" on the oldest fold, reused (scaled to the rows) by later
    # folds and the production model (the backtest measures exactly what production does, ~40% less boosting);
    # "per_fold": every fold stops on its own rows, the production model reuses the newest fold's count
    trees: str = "once"
    top_fractions: tuple[float, ...] = (0.01, 0.05, 0.1)  # precision and recall reported at these top shares
    ece_bins: int = 10              # bins of the expected calibration error

    def __post_init__(self) -> None:
        share = self.negative_share
        number = isinstance(share, (int, float)) and not isinstance(share, bool)
        if share != "auto" and not (number and 0 < share <= 1):
            _fail(f"backtest.negative_share: {share!r} must be 'auto' or a number in (0, 1] "
                  f"(the share of non-converting rows the models learn from)")
        if isinstance(self.max_negatives, bool) or not isinstance(self.max_negatives, int) or self.max_negatives < 1000:
            _fail(f"backtest.max_negatives: {self.max_negatives!r} must be a whole number >= 1000")
        if self.trees not in TREE_CHOICES:
            _fail(f"backtest.trees: {self.trees!r} is not one of {list(TREE_CHOICES)}")

    def share_for(self, negatives: int) -> float:
        """The share of non-converting rows a model learns from, given how many its training rows hold.

        >>> BacktestConfig().share_for(100_000), BacktestConfig().share_for(600_000)
        (1.0, 0.25)
        """
        if self.negative_share != "auto":
            return float(self.negative_share)
        return 1.0 if negatives <= self.max_negatives else self.max_negatives / negatives


@dataclass(frozen=True)
class CapacityConfig:
    """How many accounts sales can contact a week (group ``capacity``): it sizes PQL tier 1, the learned
    definitions' budget and every "at capacity" figure. Give ``per_week``, or the team: ``reps`` x
    ``accounts_per_rep_per_week``. It travels with the model: ``serve`` checks tier 1 against it."""

    per_week: int = 50
    reps: int | None = None
    accounts_per_rep_per_week: int | None = None

    def __post_init__(self) -> None:
        if (self.reps is None) != (self.accounts_per_rep_per_week is None):
            _fail("capacity: set both reps and accounts_per_rep_per_week (their product is the weekly capacity) "
                  "or neither")
        if self.reps is not None and (self.reps < 1 or self.accounts_per_rep_per_week < 1):
            _fail(f"capacity: reps ({self.reps}) and accounts_per_rep_per_week ({self.accounts_per_rep_per_week}) "
                  f"must be at least 1")
        if self.weekly < 1:
            _fail(f"capacity.per_week: {self.per_week} must be at least 1")

    @property
    def weekly(self) -> int:
        """Accounts a week: the team's product when it is given, else ``per_week``."""
        if self.reps is not None:
            return int(self.reps) * int(self.accounts_per_rep_per_week)
        return int(self.per_week)


@dataclass(frozen=True)
class PromotionConfig:
    """When a newly trained model replaces the ``champion`` (group ``promotion``).

    ``metric``: the new model must beat the champion on it, both measured on the same rows (the new model's
    backtest, scored by both). ``mode``: auto (a single run that wins; --multirun sweeps never move the
    champion), never, or force (also when horizon or data source differ from the champion's)."""

    metric: str = "pr_auc"
    mode: str = "auto"

    def __post_init__(self) -> None:
        if self.metric not in CHAMPION_METRICS:
            _fail(f"promotion.metric: '{self.metric}' is not one of {sorted(CHAMPION_METRICS)}")
        if self.mode not in PROMOTION_MODES:
            _fail(f"promotion.mode: '{self.mode}' is not one of {list(PROMOTION_MODES)}")


@dataclass(frozen=True)
class LearnedConfig:
    """Learned PQL definitions (group ``learned``, :mod:`train.learned`): a few readable rules learned from
    the training snapshots under a volume budget of the sales capacity, backtested like the hand rules."""

    enabled: bool = True
    max_rules: int = 5           # at most this many rules ...
    max_conditions: int = 3      # ... of at most this many conditions each (usage counts only as ">=")
    min_converters: int = 10     # each rule must add at least this many converters on the training rows
    confidence: float = 0.95     # rules are chosen by the Wilson lower bound (at this confidence) of the precision they add
    round_tolerance: float = 0.05  # a rounder threshold (100 rather than 97) may cost this share of that bound
    trees: int = 20              # trees of the small random forest that proposes candidate rules
    refine: int = 0              # the best this many candidates per step get thresholds tuned (overfits on the demo)
    narrow: int = 15             # the best this many candidates too big for the budget get a threshold narrowed to fit
    min_rule_share: float = 0.5  # each rule adds at least this share of (budget left / rules left): the list fills the budget
    min_leaf_share: float = 0.2  # smallest candidate, as a share of the budget's volume over the training snapshots
    max_rows: int = 250_000      # learn from a uniform sample of at most this many account-snapshots
    max_values: int = 5          # a condition on a category names at most this many values ("in" or "not in")
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_rules <= 10:
            _fail(f"learned.max_rules: {self.max_rules} is not between 1 and 10")
        if not 1 <= self.max_conditions <= 5:
            _fail(f"learned.max_conditions: {self.max_conditions} is not between 1 and 5")
        if self.min_converters < 1:
            _fail(f"learned.min_converters: {self.min_converters} must be at least 1")
        if not 0.5 <= self.confidence < 1:
            _fail(f"learned.confidence: {self.confidence} must be in [0.5, 1)")
        if self.max_values < 1:
            _fail(f"learned.max_values: {self.max_values} must be at least 1")
        if self.round_tolerance < 0 or self.trees < 1 or self.min_leaf_share <= 0 or self.max_rows < 1000:
            _fail("learned: round_tolerance >= 0, trees >= 1, min_leaf_share > 0 and max_rows >= 1000 are required, "
                  f"got {self}")


@dataclass(frozen=True)
class TierConfig:
    """Intent / fit / PQL tiers (group ``tiers``). Intent and fit scores are percentiles (0-1) of the model's
    contributions summed by feature group (intent: usage, touches, plan limits; fit: account attributes) on
    the newest snapshots the model saw."""

    high_intent: float | None = None  # null: sized so that tier 1 holds the weekly capacity; a number: the percentile
    medium_intent: float = 0.5
    # fit percentile at or above which the fit is good; null: sized by the fit's lift on the backtest -- the largest
    # top share of the fit score converting at least `fit_lift` times the base rate (none: fit unknown, said so)
    good_fit: float | None = None
    fit_lift: float = 1.3
    medium_fit: float = 0.3
    reasons: int = 3            # signals listed in `reasons`


@dataclass(frozen=True)
class TrackingConfig:
    """Where MLflow tracks runs and registers models (group ``tracking``): a local SQLite store by default."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "pql-train"
    registered_model: str = "pql-propensity"
    serve_experiment: str = "pql-serve"


@dataclass(frozen=True)
class CalibrationConfig:
    """How the model's log-odds become probabilities (group ``calibration``), fitted on the backtest folds'
    out-of-time predictions: auto picks none, sigmoid or isotonic by held-out log loss (a more flexible map must
    win by > 0.1%)."""

    method: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            _fail(f"calibration.method: '{self.method}' is not one of {list(CALIBRATION_METHODS)}")


def _lightgbm_params() -> dict[str, Any]:
    return {
        # LightGBM's default. 0.05 needed about twice the trees for a validation log loss ~0.1% lower, the same
        # ranking within noise on the demo, its short-log and no-fit variants and two bench worlds
        "learning_rate": 0.1,
        # shallow trees with large leaves: on weekly snapshots (many correlated rows per account, few positives)
        # they beat deeper ones and the logistic baseline in the backtest (demo: ROC AUC 0.82 vs 0.81 at 31 leaves)
        "num_leaves": 4,
        "min_child_samples": "auto",  # auto: rows / 400, between 20 and 300 (a number fixes it)
        "colsample_bytree": 0.8, "subsample": 0.8, "subsample_freq": 1, "reg_lambda": 1.0,
        "max_cat_to_onehot": 8, "cat_smooth": 10, "n_jobs": 2, "random_state": 42, "deterministic": True,
        "force_col_wise": True, "verbosity": -1,
    }


@dataclass(frozen=True)
class LightGBMConfig:
    """``model=lightgbm``: gradient boosting on native categoricals. ``params`` are LGBMClassifier arguments;
    early stopping on the newest training snapshots picks the number of trees (``backtest.trees``)."""

    name: str = "lightgbm"
    params: dict[str, Any] = field(default_factory=_lightgbm_params)
    n_estimators: int = 1000           # upper bound; early stopping picks the number of trees
    trees_without_validation: int = 200  # when the validation snapshots hold no conversion to stop on
    early_stopping_rounds: int = 50
    # log loss on the raw rates keeps scores near-calibrated and ranks just as well; > 1 trades calibration
    # for recall (the calibrator repairs it)
    scale_pos_weight: float = 1.0
    # per-feature contributions behind tiers and reasons: path (exact in total, ~100x faster) or shap (TreeSHAP)
    contributions: str = "path"


@dataclass(frozen=True)
class LogisticConfig:
    """``model=logistic``: the baseline (impute and scale numbers, one-hot categories, L2 logistic regression)."""

    name: str = "logistic"
    C: float = 0.1
    max_iter: int = 2000
    class_weight: str | None = None  # "balanced" re-weights the rare positives (the calibrator restores probabilities)


CANDIDATES = ("lightgbm", "lightgbm_sized", "logistic", "blend")
SELECTION_METRICS = ("roc_auc", "pr_auc")


@dataclass(frozen=True)
class AutoConfig:
    """``model=auto`` (the default): the model is chosen by the backtest among a small fixed set of candidates
    fitted on the same rolling folds -- LightGBM with ``lightgbm``'s settings, LightGBM sized to the data
    (fewer leaves and more regularisation when converters are few, more leaves when they are many), the
    logistic model, and their blend (the mean of LightGBM's and the logistic model's log-odds).

    Each test fold is scored by the candidate that was best on the folds before it (the first fold, scored by
    ``prior``, only informs that choice and is left out of what the run reports), so the backtest never
    flatters the choice; the model that ships is the candidate best on every fold. "Best": among the candidates
    whose ``metric`` (averaged over the folds, each fold ranked on its own) is within ``margin`` of the best
    one's, the candidate that converts most among its top accounts at the sales capacity (``prior`` on a tie)."""

    name: str = "auto"
    candidates: tuple[str, ...] = CANDIDATES
    prior: str = "blend"
    metric: str = "roc_auc"
    margin: float = 0.005
    lightgbm: LightGBMConfig = field(default_factory=LightGBMConfig)
    logistic: LogisticConfig = field(default_factory=LogisticConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.candidates) - set(CANDIDATES))
        if unknown or not self.candidates:
            _fail(f"model.candidates: {list(self.candidates)} must be a non-empty subset of {list(CANDIDATES)}")
        if self.prior not in self.candidates:
            _fail(f"model.prior: '{self.prior}' is not one of the candidates {list(self.candidates)}")
        if self.metric not in SELECTION_METRICS:
            _fail(f"model.metric: '{self.metric}' is not one of {list(SELECTION_METRICS)}")


MODEL_SCHEMAS = {"auto": AutoConfig, "lightgbm": LightGBMConfig, "logistic": LogisticConfig}


@dataclass(frozen=True)
class ModelConfig:
    """The model a run fits: ``name`` picks the estimator, ``settings`` are its other keys."""

    name: str = "lightgbm"
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ModelConfig":
        """From the plain ``model`` group (``name`` plus the estimator's settings)."""
        values = dict(values)
        return cls(name=values.pop("name", "lightgbm"), settings=values)
