"""The feature spec: what a model was trained on, saved with it so scoring rebuilds the same columns.

It records which event and touch types got columns (by their raw names), which fit attributes
are numeric or categorical and the categories seen, which accounts columns were left out (excluded
by config or identifier-like), plus every column's name, kind, group and readable templates (used
for the reasons a sales rep reads).

>>> spec = FeatureSpec(windows=(7,), event_types=("Task Created",), columns=(
...     Column("task_created_count_7d", "count", "usage", "'task created' {value} time{s} in the last 7 days",
...            zero="no 'task created' in the last 7 days"),), dropped_columns=("crm_id",))
>>> FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
True
>>> "missing" in spec.to_dict()["columns"][0]  # None fields are left out
False

A spec saved before a field existed still loads, with that field's default:

>>> old = {"windows": [7], "columns": [{"name": "n_count_7d", "kind": "count", "group": "usage",
...                                    "text": "{value} 'n' in the last 7 days"}]}
>>> FeatureSpec.from_dict(old).dropped_columns, FeatureSpec.from_dict(old).columns[0].zero
((), None)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError

OTHER = "(other)"
INTENT_GROUPS = ("usage", "touch", "plan")  # intent = what the account does; fit = who it is
FIT_GROUPS = ("fit", "people")  # people: who is in the account (features.families.people)


@dataclass(frozen=True)
class Column:
    """One feature column: ``kind`` is count | quantity | days | ratio | numeric | category.

    ``text`` words a value for a sales rep (``{value}`` is replaced by the value, ``{s}`` by "s"
    unless the value reads as 1); ``missing`` words a missing value and ``zero`` one that reads as
    0 (``text`` is used when ``zero`` is None). ``lifts`` is set on a categorical column whose values are
    identifiers to a person (many distinct values, or hex/uuid-like): per category, its accounts' conversion
    rate over the average (None: too few accounts to say), so a reason names the column and that multiple,
    never the value.
    """

    name: str
    kind: str
    group: str
    text: str
    categories: tuple[str, ...] | None = None
    missing: str | None = None
    zero: str | None = None
    lifts: tuple[float | None, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        """Whether the column holds categories (text), not numbers."""
        return self.kind == "category"


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to rebuild a feature table with exactly the same columns and types."""

    windows: tuple[int, ...]
    event_types: tuple[str, ...] = ()
    quantity_events: tuple[str, ...] = ()
    touch_types: tuple[str, ...] = ()
    key_events: tuple[str, ...] = ()
    has_users: bool = False
    trend_days: int = 7
    plan_limits: dict[str, dict[str, str]] = field(default_factory=dict)
    columns: tuple[Column, ...] = ()
    dropped_columns: tuple[str, ...] = ()  # accounts columns left out: excluded by config or identifiers
    labels: dict[str, str] = field(default_factory=dict)  # features.labels: readable names (naming.display_name)
    buyers: dict[str, str] = field(default_factory=dict)  # the buyer persona: users column -> regex (families.people)

    @property
    def names(self) -> list[str]:
        """Every column's name, in order."""
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[str]:
        """The names of the categorical columns, in order."""
        return [c.name for c in self.columns if c.is_categorical]

    def column(self, name: str) -> Column:
        """The column of that name."""
        return next(c for c in self.columns if c.name == name)

    def group_of(self, names: list[str]) -> np.ndarray:
        """The group of each named column (for summing contributions into intent and fit)."""
        groups = {c.name: c.group for c in self.columns}
        return np.array([groups[n] for n in names])

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The spec as plain data (JSON-ready); None fields of columns are left out."""
        data = asdict(self)
        data["columns"] = [{k: v for k, v in asdict(c).items() if v is not None} for c in self.columns]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSpec":
        """A spec from :meth:`to_dict`'s data (fields it lacks take their defaults)."""
        data = dict(data)
        cols = tuple(Column(**{**c, **{k: tuple(c[k]) for k in ("categories", "lifts") if c.get(k) is not None}})
                     for c in data.pop("columns", []))
        for key in ("windows", "event_types", "quantity_events", "touch_types", "key_events", "dropped_columns"):
            data[key] = tuple(data.get(key, ()))
        data["labels"] = dict(data.get("labels") or {})
        data["buyers"] = dict(data.get("buyers") or {})
        return cls(columns=cols, **data)

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSpec":
        """A spec saved by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    # -- checking a feature table against the spec ------------------------------------------------
    def check(self, frame: pd.DataFrame, table: str = "features") -> None:
        """Raise DataError when a column is missing or has the wrong type."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise DataError(table, missing[0], f"is missing ({len(missing)} of {len(self.names)} spec columns "
                                               f"missing: {missing[:5]})")
        for col in self.columns:
            dtype = frame[col.name].dtype
            numeric = pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
            if col.is_categorical and numeric and not frame[col.name].isna().all():
                raise DataError(table, col.name, f"should be categorical (text) but is {dtype}")
            if not col.is_categorical and not (numeric or pd.api.types.is_bool_dtype(dtype)):
                raise DataError(table, col.name, f"should be numeric but is {dtype}")

    def categorize(self, values: pd.Series, column: Column) -> pd.Categorical:
        """Cast to the spec's categories: unseen values become ``(other)`` when that exists, else missing."""
        cats = list(column.categories or ())
        if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == cats:
            return pd.Categorical.from_codes(values.cat.codes.to_numpy().copy(), categories=cats)  # already cast
        # distinct values first, then those few looked up: a lookup of every row's text cost ~0.25 s per
        # column at a million accounts (Arrow strings converted to Python objects)
        seen, distinct = pd.factorize(values.astype("string"))
        lookup = pd.Index(cats, dtype="object").get_indexer(pd.Index(distinct, dtype="object"))
        if OTHER in cats:
            lookup[lookup == -1] = cats.index(OTHER)
        codes = np.where(seen >= 0, lookup[seen] if len(lookup) else -1, -1)
        return pd.Categorical.from_codes(codes, categories=cats)

    def align(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The spec's columns, in order, with categoricals on the spec's categories (a new frame)."""
        self.check(frame)
        out = {}
        for col in self.columns:
            values = frame[col.name]
            out[col.name] = (self.categorize(values, col) if col.is_categorical
                             else pd.to_numeric(values, errors="coerce").astype("float64"))
        return pd.DataFrame(out, index=frame.index)
