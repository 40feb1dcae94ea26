"""The models a run may choose from, and how each one is fitted on a fold's rows.

``model=auto`` compares a small fixed set (:data:`train.config.CANDIDATES`); ``model=lightgbm`` or
``model=logistic`` has one candidate, plus the backtest's baseline (``backtest.baseline``) fitted beside it
for comparison but never chosen. A candidate is an estimator with its settings, or the blend of two fitted
candidates (:mod:`train.blend`).

LightGBM "sized to the data" takes its shape from the converters the oldest fold's model learns from: with
few of them smaller, more regularised trees (a split only where many accounts agree); with many, wider trees
that can afford interactions -- on a big log (``MANY_CONVERTERS``) learned at twice the configured rate, so that it
costs about half of one more LightGBM model where the folds' fits are the run's main cost (early stopping picks
its own number of trees either way).

>>> sized_settings({"params": {"num_leaves": 4}}, positives=200)["params"]["num_leaves"]
3
>>> sized_settings({"params": {"num_leaves": 4}}, positives=20_000)["params"]["num_leaves"]
15
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from train.config import CANDIDATES, ModelConfig

FEW_CONVERTERS = 1500  # converting training rows below which the sized LightGBM is additive (stumps)
MANY_CONVERTERS = 10_000  # ... from which it learns at twice the rate (a big table; the demo's ~3k stay below)
BLEND_PARTS = ("lightgbm", "logistic")


@dataclass(frozen=True)
class Candidate:
    """One model a run may choose: ``kind`` lightgbm | logistic | blend, its estimator settings, and for a
    blend the candidates it averages."""

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    parts: tuple[str, ...] = ()

    @property
    def config(self) -> ModelConfig:
        """The estimator's config (a blend has none of its own)."""
        return ModelConfig(self.kind, dict(self.settings))


@dataclass(frozen=True)
class Lineup:
    """The candidates a run fits on every fold, which of them may be chosen, and the a-priori choice (the
    first fold's model, scored before any outcome could inform a choice)."""

    candidates: tuple[Candidate, ...]
    eligible: tuple[str, ...]
    prior: str
    metric: str = "roc_auc"
    margin: float = 0.0
    calls: int = 50  # accounts called from each snapshot: "at capacity"

    @property
    def auto(self) -> bool:
        """True when the backtest chooses among several candidates (``model=auto``)."""
        return len(self.eligible) > 1

    def get(self, name: str) -> Candidate:
        """The candidate of that name."""
        return next(c for c in self.candidates if c.name == name)

    @property
    def base(self) -> tuple[Candidate, ...]:
        """The candidates fitted on their own (every one but blends), in fitting order."""
        return tuple(c for c in self.candidates if c.kind != "blend")


def sized_settings(lightgbm: dict[str, Any], positives: int) -> dict[str, Any]:
    """LightGBM's settings reshaped to the number of converting rows its model learns from: with few, three
    leaves and leaves four times larger (``min_child_samples: auto:100``, rows / 100) and a tenfold penalty, so
    a tree splits only on what many accounts share; with many, fifteen leaves that can afford interactions (with
    very many, at twice the learning rate, at most 0.3)."""
    params = dict(lightgbm.get("params") or {})
    if positives < FEW_CONVERTERS:
        params.update(num_leaves=3, min_child_samples="auto:100", reg_lambda=10.0, colsample_bytree=0.6)
    else:
        params.update(num_leaves=15, reg_lambda=5.0, colsample_bytree=0.6)
    if positives >= MANY_CONVERTERS:  # a big table: each fold's fits are the run's main cost
        params.update(learning_rate=min(2 * float(params.get("learning_rate", 0.1)), 0.3))
    return {**lightgbm, "params": params}


def lineup(model: ModelConfig, baseline: str | None, positives: int, calls: int = 50) -> Lineup:
    """The candidates of a run: ``model=auto``'s set (LightGBM sized by the oldest fold's ``positives``), or the
    configured model plus the baseline (fitted for comparison, not eligible)."""
    if model.name != "auto":
        own = Candidate(model.name, model.name, dict(model.settings))
        extra = (Candidate(baseline, baseline),) if baseline and baseline != model.name else ()
        return Lineup((own, *extra), (own.name,), own.name, calls=calls)
    settings = model.settings
    lightgbm = {k: v for k, v in dict(settings.get("lightgbm") or {}).items() if k != "name"}
    logistic = {k: v for k, v in dict(settings.get("logistic") or {}).items() if k != "name"}
    made = {"lightgbm": Candidate("lightgbm", "lightgbm", lightgbm),
            "lightgbm_sized": Candidate("lightgbm_sized", "lightgbm", sized_settings(lightgbm, positives)),
            "logistic": Candidate("logistic", "logistic", logistic),
            "blend": Candidate("blend", "blend", parts=BLEND_PARTS)}
    requested = tuple(n for n in CANDIDATES if n in tuple(settings.get("candidates") or CANDIDATES))
    # a blend needs its parts fitted, chosen or not (CANDIDATES lists the blend last, after its parts)
    fitted = [n for n in CANDIDATES if n in requested or ("blend" in requested and n in BLEND_PARTS)]
    return Lineup(tuple(made[n] for n in fitted), requested, str(settings.get("prior", "blend")),
                  str(settings.get("metric", "roc_auc")), float(settings.get("margin", 0.0)), calls)
