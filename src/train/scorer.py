"""Everything scoring needs, in one folder of plain files that travels with the model.

``bundle/``: the model (LightGBM text or skops), ``calibrator.json``, ``spec.json`` (the
feature spec), ``tiers.json``, ``rules.json``, ``meta.json`` and ``manifest.json`` (its hashes,
:mod:`train.bundle`). ``Scorer.score`` turns a feature table into the scores table's model columns.

Loading verifies the manifest first (:func:`train.bundle.verify_bundle`); then each JSON file parses,
the model file is complete, and the spec's feature names are the model's own (a swapped name would
silently move values between features). Any failure is a :class:`~train.bundle.BundleError`: one
line, exit code 4.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rules.language import RuleSet
from features.spec import FeatureSpec

from train.bundle import BundleError, one_line, read_json, verify_bundle, write_manifest
from train.calibrate import Calibrator
from train.explain import reasons_text
from train.models import FittedModel, load_model
from train.tiers import Tiers
from train.value import AmountModel

_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' default text dtype ("str")
SCORE_COLUMNS = ("score", "intent_score", "fit_score", "intent_tier", "fit_tier", "pql_tier")


@dataclass(frozen=True)
class Scorer:
    """A trained model with everything that turns its output into the scores table: calibration, feature
    spec, tiers, the hand rules, reasons, the amount model; ``meta`` and ``reference`` travel with it."""

    model: FittedModel
    calibrator: Calibrator
    spec: FeatureSpec
    tiers: Tiers
    rules: RuleSet
    n_reasons: int = 3
    meta: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)  # training distributions of features and score (drift)
    amount: AmountModel | None = None  # predicted amount if converting (None: conversions carried no amount)

    def output_columns(self) -> list[str]:
        """The columns :meth:`score` returns, in order."""
        value = ["expected_value"] if self.amount is not None else []
        return [*SCORE_COLUMNS, *value, *(f"rule_{n}" for n in self.rules.names), "reasons"]

    def score(self, features: pd.DataFrame, with_reasons: bool = True) -> pd.DataFrame:
        """Calibrated score, intent/fit scores and tiers, rule flags and reasons for each row.

        ``features`` must hold the spec's columns (checked: missing or mistyped -> DataError);
        a category never seen in training is scored (as ``(other)`` or missing), not rejected.
        """
        X = self.spec.align(features)
        if len(X) == 0:
            return pd.DataFrame({c: pd.Series([], dtype="float64") for c in self.output_columns()})
        raw, contrib = self.model.response_and_contributions(X)  # one pass over the trees where the model can
        p = self.calibrator.apply(raw)
        tiers = self.tiers.assign(contrib, self.spec)
        parts = [pd.DataFrame({"score": p}, index=X.index), tiers]
        if self.amount is not None:  # probability x the amount the account would likely sign for
            parts.append(pd.DataFrame({"expected_value": p * self.amount.predict(X)}, index=X.index))
        out = pd.concat([*parts, self.rules.evaluate(X)], axis=1)
        if with_reasons:
            # an account a rep is asked to act on (tiers 1-3) always gets at least one reason
            text = reasons_text(contrib, X, self.spec, self.n_reasons, must_have=tiers["pql_tier"].notna().to_numpy())
            out["reasons"] = pd.Series(text, dtype=_TEXT, index=out.index)
        return out

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: str | Path, code_file: str | Path | None = None) -> Path:
        """Write the bundle and its manifest (``code_file``: the pyfunc code it is logged with)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder)
        self.spec.save(folder / "spec.json")
        (folder / "calibrator.json").write_text(json.dumps(self.calibrator.to_dict()))
        (folder / "tiers.json").write_text(json.dumps(self.tiers.to_dict()))
        (folder / "rules.json").write_text(json.dumps(self.rules.to_dict(), indent=1))
        (folder / "reference.json").write_text(json.dumps(self.reference))
        if self.amount is not None:
            (folder / "amount.json").write_text(json.dumps(self.amount.to_dict()))
        (folder / "meta.json").write_text(json.dumps({**self.meta, "model_kind": self.model.kind,
                                                      "n_reasons": self.n_reasons}, indent=1, default=str))
        write_manifest(folder, code_file)
        return folder

    @classmethod
    def load(cls, folder: str | Path, code_file: str | Path | None = None) -> "Scorer":
        """The bundle in ``folder``, verified against its manifest first (and ``code_file``, the pyfunc
        code it was logged with, when given); a damaged or edited bundle is a :class:`BundleError`."""
        folder = Path(folder)
        verify_bundle(folder, code_file)
        try:
            meta = read_json(folder, "meta.json")
            kind = meta.get("model_kind")
            if kind not in ("lightgbm", "logistic", "blend"):
                raise ValueError(f"meta.json: unknown model kind {kind!r}")
            read_json(folder, "spec.json")  # a clear message for broken JSON before FeatureSpec reads it
            spec = FeatureSpec.load(folder / "spec.json")
            return cls(
                model=load_model(kind, folder, spec.names),
                calibrator=Calibrator.from_dict(read_json(folder, "calibrator.json")),
                spec=spec,
                tiers=Tiers.from_dict(read_json(folder, "tiers.json")),
                rules=RuleSet.from_config(read_json(folder, "rules.json")),
                n_reasons=int(meta.get("n_reasons", 3)),
                meta=meta,
                reference=read_json(folder, "reference.json") if (folder / "reference.json").exists() else {},
                amount=AmountModel.from_dict(read_json(folder, "amount.json")) if (folder / "amount.json").exists()
                else None,
            )
        except BundleError:
            raise
        except Exception as exc:  # a bundle is input from outside this process: never a traceback
            raise BundleError(f"model bundle {folder} cannot be loaded: {one_line(exc)}") from exc


def cast_input(frame: pd.DataFrame, spec: FeatureSpec, table: str = "model input") -> pd.DataFrame:
    """The spec's columns of ``frame``, in order, as the model scores them: numeric columns as
    float64 (integer counts, floats, booleans, numbers as text, nulls), fit categoricals as text or
    None (``category``, ``string``, object; numbers in a text column are read as their text).
    Other columns (``account_id``, ``as_of``, ...) are left out. A missing column or a value that is
    not a number in a numeric column is a :class:`~features.errors.DataError` (one line).

    Accepts what ``python -m features`` writes, as it is, and what JSON gives a model server."""
    from features.errors import DataError

    missing = [n for n in spec.names if n not in frame.columns]
    if missing:
        raise DataError(table, missing[0], f"is missing ({len(missing)} of {len(spec.names)} spec columns "
                                           f"missing: {missing[:5]})")
    categorical = set(spec.categorical)
    out = {}
    for name in spec.names:
        values = frame[name]
        if name in categorical:
            if isinstance(values.dtype, pd.CategoricalDtype):  # each category worded once, not each row
                words = np.array([c if isinstance(c, str) else str(c) for c in values.cat.categories] + [None],
                                 dtype=object)
                out[name] = pd.Series(words[values.cat.codes.to_numpy()], index=frame.index, dtype=object)
                continue
            text = values.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
            out[name] = text.astype("object").where(values.notna(), None)
        elif pd.api.types.is_bool_dtype(values.dtype) or (pd.api.types.is_numeric_dtype(values.dtype)
                                                          and not isinstance(values.dtype, pd.CategoricalDtype)):
            out[name] = values.astype("float64")
        else:
            try:
                out[name] = pd.to_numeric(values.astype("object").where(values.notna(), None),
                                          errors="raise").astype("float64")
            except (ValueError, TypeError):
                bad = values[pd.to_numeric(values.astype("object"), errors="coerce").isna() & values.notna()]
                raise DataError(table, name, f"should be numeric but holds {str(bad.iloc[0])[:40]!r}") from None
    return pd.DataFrame(out, index=frame.index)


def model_input(features: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The spec's columns with categoricals as text and numbers as doubles (see :func:`cast_input`)."""
    return cast_input(features, spec, table="features")


__all__ = ["Scorer", "model_input", "cast_input", "SCORE_COLUMNS"]
