"""Everything scoring needs, in one folder of plain files that travels with the model.

``bundle/``: the model (LightGBM text or skops), ``calibrator.json``, ``spec.json`` (the
feature spec), ``tiers.json``, ``rules.json``, ``meta.json`` and ``manifest.json`` (the sha256 of
every other file, and of the pyfunc code file the bundle is logged with). ``Scorer.score`` turns a
feature table into the scores table's model columns.

Loading checks before it parses anything: every file the manifest lists is there with its hash
and nothing else is (a truncated or edited file never reaches LightGBM, whose parser can abort the
process); then each JSON file parses, the model file is complete, and the spec's feature names are
the model's own (a swapped name would silently move values between features). Any failure is a
:class:`BundleError`: one line, exit code 4.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rules.language import RuleSet
from features.spec import FeatureSpec

from train.calibrate import Calibrator
from train.explain import reasons_text
from train.models import FittedModel, load_model
from train.tiers import Tiers
from train.tracking import TrackingError
from train.value import AmountModel

MANIFEST = "manifest.json"
_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' default text dtype ("str")
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
    amount: AmountModel | None = None  # predicted amount if converting (None: conversions carried no amount)

    def output_columns(self) -> list[str]:
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
            meta = _json(folder, "meta.json")
            kind = meta.get("model_kind")
            if kind not in ("lightgbm", "logistic"):
                raise ValueError(f"meta.json: unknown model kind {kind!r}")
            _json(folder, "spec.json")  # a clear message for broken JSON before FeatureSpec reads it
            spec = FeatureSpec.load(folder / "spec.json")
            return cls(
                model=load_model(kind, folder, spec.names),
                calibrator=Calibrator.from_dict(_json(folder, "calibrator.json")),
                spec=spec,
                tiers=Tiers.from_dict(_json(folder, "tiers.json")),
                rules=RuleSet.from_config(_json(folder, "rules.json")),
                n_reasons=int(meta.get("n_reasons", 3)),
                meta=meta,
                reference=_json(folder, "reference.json") if (folder / "reference.json").exists() else {},
                amount=AmountModel.from_dict(_json(folder, "amount.json")) if (folder / "amount.json").exists()
                else None,
            )
        except BundleError:
            raise
        except Exception as exc:  # a bundle is input from outside this process: never a traceback
            raise BundleError(f"model bundle {folder} cannot be loaded: {_one_line(exc)}") from exc


class BundleError(TrackingError):
    """A model bundle that is not exactly what this pipeline wrote: damaged, edited or incomplete (exit 4)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except FileNotFoundError:
        raise BundleError(f"model bundle {folder}: {name} is missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"model bundle {folder}: {name} is not valid JSON ({_one_line(exc)})") from None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundle_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                  and p.name != MANIFEST)


def write_manifest(folder: str | Path, code_file: str | Path | None = None) -> str:
    """Write ``manifest.json`` (sha256 of every bundle file, and of ``code_file``); return its digest."""
    folder = Path(folder)
    manifest = {"files": {name: sha256_file(folder / name) for name in _bundle_files(folder)}}
    if code_file is not None:
        manifest["code"] = {Path(code_file).name: sha256_file(code_file)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return bundle_digest(folder)


def bundle_digest(folder: str | Path) -> str:
    """The bundle's content hash: the sha256 of its manifest (which hashes every other file)."""
    return sha256_file(Path(folder) / MANIFEST)


def verify_bundle(folder: str | Path, code_file: str | Path | None = None, digest: str | None = None) -> None:
    """Every file the manifest lists is present and unchanged, nothing else is there; ``code_file``
    (when given) is the code the manifest names; ``digest`` (when given) is the manifest's own hash."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise BundleError(f"model bundle {folder} has no {MANIFEST}: it was not written by this pipeline "
                          f"(or before bundles carried one); retrain with `python -m train`")
    if digest is not None and bundle_digest(folder) != digest:
        raise BundleError(f"model bundle {folder}: its content hash does not match the one recorded at "
                          f"registration; refusing to load it")
    manifest = _json(folder, MANIFEST)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise BundleError(f"model bundle {folder}: {MANIFEST} lists no files")
    extra = sorted(set(_bundle_files(folder)) - set(files))
    if extra:
        raise BundleError(f"model bundle {folder} holds files its manifest does not list: {extra[:5]}")
    for name, expected in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            raise BundleError(f"model bundle {folder}: {name} is missing")
        if sha256_file(path) != expected:
            raise BundleError(f"model bundle {folder}: {name} was changed or damaged after it was written "
                              f"(its sha256 differs from the manifest's)")
    if code_file is not None:
        code = manifest.get("code") or {}
        expected = code.get(Path(code_file).name)
        if expected is None:
            raise BundleError(f"model bundle {folder}: its manifest records no hash for {Path(code_file).name}")
        if not Path(code_file).is_file() or sha256_file(code_file) != expected:
            raise BundleError(f"model code {code_file} was changed after the model was written "
                              f"(its sha256 differs from the bundle manifest's); refusing to run it")


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


__all__ = ["Scorer", "BundleError", "model_input", "cast_input", "verify_bundle", "write_manifest", "bundle_digest",
           "SCORE_COLUMNS"]
