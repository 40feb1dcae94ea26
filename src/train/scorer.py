"""Everything scoring needs, in one folder of plain files that travels with the model.

``bundle/``: the model (LightGBM text or skops), ``calibrator.json``, ``spec.json`` (the
feature spec), ``tiers.json``, ``rules.json`` and ``meta.json``. ``Scorer.score`` turns a
feature table into the scores table's model columns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.rules import RuleSet
from features.spec import FeatureSpec

from .calibrate import Calibrator
from .explain import reasons
from .models import FittedModel, load_model
from .tiers import Tiers

SCORE_COLUMNS = ("score", "intent_score", "fit_score", "intent_tier", "fit_tier", "pql_tier")


@dataclass
class Scorer:
    model: FittedModel
    calibrator: Calibrator
    spec: FeatureSpec
    tiers: Tiers
    rules: RuleSet
    n_reasons: int = 3
    meta: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)  # training distributions of features and score (drift)

    def output_columns(self) -> list[str]:
        return [*SCORE_COLUMNS, *(f"rule_{n}" for n in self.rules.names), "reasons"]

    def score(self, features: pd.DataFrame, with_reasons: bool = True) -> pd.DataFrame:
        """Calibrated score, intent/fit scores and tiers, rule flags and reasons for each row.

        ``features`` must hold the spec's columns (checked: missing or mistyped -> DataError);
        a category never seen in training is scored (as ``(other)`` or missing), not rejected.
        """
        X = self.spec.align(features)
        if len(X) == 0:
            return pd.DataFrame({c: pd.Series([], dtype="float64") for c in self.output_columns()})
        p = self.calibrator.apply(self.model.response(X))
        contrib = self.model.contributions(X)
        tiers = self.tiers.assign(contrib, self.spec)
        out = pd.concat([pd.DataFrame({"score": p}, index=X.index), tiers, self.rules.evaluate(X)], axis=1)
        if with_reasons:
            # an account a rep is asked to act on (tiers 1-3) always gets at least one reason
            out["reasons"] = reasons(contrib, X, self.spec, self.n_reasons,
                                     must_have=tiers["pql_tier"].notna().to_numpy())
        return out

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder)
        self.spec.save(folder / "spec.json")
        (folder / "calibrator.json").write_text(json.dumps(self.calibrator.to_dict()))
        (folder / "tiers.json").write_text(json.dumps(self.tiers.to_dict()))
        (folder / "rules.json").write_text(json.dumps(self.rules.to_dict(), indent=1))
        (folder / "reference.json").write_text(json.dumps(self.reference))
        (folder / "meta.json").write_text(json.dumps({**self.meta, "model_kind": self.model.kind,
                                                      "n_reasons": self.n_reasons}, indent=1, default=str))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Scorer":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        spec = FeatureSpec.load(folder / "spec.json")
        return cls(
            model=load_model(meta["model_kind"], folder, spec.names),
            calibrator=Calibrator.from_dict(json.loads((folder / "calibrator.json").read_text())),
            spec=spec,
            tiers=Tiers.from_dict(json.loads((folder / "tiers.json").read_text())),
            rules=RuleSet.from_config(json.loads((folder / "rules.json").read_text())),
            n_reasons=int(meta.get("n_reasons", 3)),
            meta=meta,
            reference=json.loads((folder / "reference.json").read_text()) if (folder / "reference.json").exists() else {},
        )


def model_input(features: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The spec's columns with categoricals as text: the pyfunc signature's input (strings and doubles)."""
    X = spec.align(features)
    for name in spec.categorical:
        X[name] = X[name].astype("object").where(X[name].notna(), None)
    return X.astype({n: "float64" for n in spec.names if n not in spec.categorical})


__all__ = ["Scorer", "model_input", "SCORE_COLUMNS"]
