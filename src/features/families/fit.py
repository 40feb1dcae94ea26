"""Fit: who the account is -- every other ``accounts`` column, under its own name, minus identifiers.

Numeric columns stay numeric; text becomes categorical (the top categories + ``(other)``). Attributes with a
history (``account_attributes``) are fit columns too, read as they were at each as-of (:mod:`features.asof`).
Planned from the values that can reach a feature at or before the newest as-of; columns excluded by ``features.exclude_columns``
or identifier-like (:func:`identifier`) are left out and recorded in the spec (``dropped_columns``).
"""
from __future__ import annotations

import logging
import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from features import naming as nm
from features.config import FeatureConfig
from features.errors import DataError
from features.families.common import template_safe
from features.asof import reachable_values
from features.spec import OTHER, Column, FeatureSpec
from features.tables import Tables

log = logging.getLogger("pql")

ID_MIN_DISTINCT = 20  # fewer distinct values than this never make a column an identifier
_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key)$")
MANY_VALUES = 50  # a text column with more distinct values than this names things no person tells apart
LIFT_MIN_ACCOUNTS = 10  # a category's conversion rate is told only from at least this many accounts
LIFT_PRIOR = 20  # ... and as if this many more accounts had converted at the average rate (small ones read ~1x)
_HEX = re.compile(r"^(0x)?[0-9a-f]{8,}$|^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$|^\{?[0-9a-f-]{32,38}\}?$",
                  re.IGNORECASE)
_DIGITS = re.compile(r"^\d{7,}$")


def id_like_value(value: object) -> bool:
    """A value that reads as an identifier, not a word: hex (8+ digits with at least one of 0-9), uuid-like,
    or a run of 7+ digits.

    >>> [id_like_value(v) for v in ("7fa6214d82e911d070f51ef79381b956", "123e4567-e89b-12d3-a456-426614174000",
    ...                             "00012345678", "fintech", "deadbeef", "DE", "2024", "ab12")]
    [True, True, True, False, False, False, False, False]
    """
    text = str(value).strip()
    return bool((_HEX.match(text) and any(ch.isdigit() for ch in text)) or _DIGITS.match(text))


def id_like_name(name: str) -> bool:
    """``id``, ``account_id``, ``accountId``, ``userID``, ``uuid``, ``crm_key`` (not ``paid``, ``valid``).

    >>> [id_like_name(n) for n in ("id", "ID", "org_id", "accountId", "uuid", "hubspot_key", "paid", "seats")]
    [True, True, True, True, True, True, False, False]
    """
    return bool(_ID_NAME.search(nm.slug(name)))


def columns(tables: Tables, t: int, config: FeatureConfig) -> tuple[list[Column], tuple[str, ...]]:
    """Numeric accounts columns stay numeric; text becomes categorical (top categories + ``(other)``).

    Planned from the accounts that can be eligible before ``t`` only. Skipped, and returned as the
    second value: ``config.exclude_columns``, and identifiers -- text whose distinct values cover at
    least ``config.id_like_share`` of its values, or numbers all distinct under an id-like name (both
    only with at least ``ID_MIN_DISTINCT`` distinct values; ``id_like_share=None`` keeps them).
    """
    excluded = set(config.exclude_columns or ())
    unknown = sorted(excluded - set(tables.fit_columns))
    if unknown:
        log.warning("features.exclude_columns: %s %s not a fit attribute of accounts (fit attributes: %s)",
                    unknown, "is" if len(unknown) == 1 else "are", list(tables.fit_columns))
    out, dropped = [], []
    for name in tables.fit_columns:
        if name in excluded:
            dropped.append(name)
            continue
        values, accounts = reachable_values(tables, name, t)
        if name not in tables.accounts.columns and values.isna().all():
            continue  # an attribute whose history starts later: no column yet (its rows must change nothing at t)
        numeric = _numeric(values, tables.accounts.get(name))
        if numeric and isinstance(values.dtype, pd.CategoricalDtype):  # an attribute only in the history
            numbers = pd.to_numeric(pd.Series(values.cat.categories, dtype=object), errors="coerce").to_numpy(float)
            values = pd.Series(np.r_[numbers, np.nan][values.cat.codes.to_numpy()])  # code -1: the NaN last
        converted = tables.converted_us[accounts] < t  # converted before the newest as-of: tells a category's rate
        why = identifier(name, values, numeric, config.id_like_share)
        if why:
            log.warning("accounts column '%s' looks like an identifier (%s): not used as a fit attribute. "
                        "features.id_like_share=null keeps it; features.exclude_columns=[...] drops other "
                        "columns", name, why)
            dropped.append(name)
            continue
        out.append(_column(name, values, numeric, config.max_categories, converted, config.labels))
    return out, tuple(dropped)


def _numeric(values: pd.Series, own: pd.Series | None) -> bool:
    """Whether a fit attribute is numeric: its accounts column's type when it has one, else (an attribute only
    in the history) whether every value that can reach a feature reads as a number (at least one does)."""
    typed = own if own is not None else values
    if pd.api.types.is_bool_dtype(typed) or (pd.api.types.is_numeric_dtype(typed)
                                            and not isinstance(typed.dtype, pd.CategoricalDtype)):
        return True
    if own is not None:
        return False
    used = values.cat.remove_unused_categories().cat.categories if isinstance(values.dtype, pd.CategoricalDtype) \
        else values.dropna().unique()
    return bool(len(used)) and bool(pd.to_numeric(pd.Series(used, dtype=object), errors="coerce").notna().all())


def _column(name: str, values: pd.Series, numeric: bool, max_categories: int, converted: np.ndarray,
            labels: Mapping[str, str] | None = None) -> Column:
    """The fit column of an accounts column: numeric, or categorical with its top categories (and their lifts
    when its values are identifiers to a person, see :func:`lifts`), worded by its name or its ``labels``."""
    label = nm.display_name(name, labels)
    if numeric:
        return Column(name, "numeric", "fit", f"{template_safe(label)}: {{value}}", missing=f"{label}: unknown")
    counts = _text_counts(values)
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    cats = list(counts.index[: max_categories])
    if len(counts) > max_categories:
        cats.append(OTHER)
    hidden = len(counts) > MANY_VALUES or any(id_like_value(c) for c in cats if c != OTHER)
    return Column(name, "category", "fit", f"{template_safe(label)}: {{value}}", tuple(cats),
                  missing=f"{label}: unknown", lifts=lifts(values, converted, cats) if hidden else None)


def _text_counts(values: pd.Series) -> pd.Series:
    """How often each value occurs, by its text (missing values left out); a categorical is counted by code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        counts = values.value_counts()
        counts = counts[counts > 0]
        return pd.Series(counts.to_numpy(), index=counts.index.astype(str), name="count")
    return values.dropna().astype(str).value_counts()


def lifts(values: pd.Series, converted: np.ndarray, categories: Sequence[str]) -> tuple[float | None, ...]:
    """Per category, its accounts' conversion rate over all accounts', as if ``LIFT_PRIOR`` more accounts had
    converted at the average rate (None: fewer than ``LIFT_MIN_ACCOUNTS`` accounts, no conversion at all, or
    ``(other)``), rounded to two decimals.

    >>> values = pd.Series(["a"] * 40 + ["b"] * 40 + ["c"] * 5)
    >>> lifts(values, np.r_[np.ones(12), np.zeros(28), np.ones(4), np.zeros(41)].astype(bool), ["a", "b", "c"])
    (1.4, 0.69, None)
    """
    text = values.astype("string").to_numpy(dtype=object, na_value=None)
    overall = float(np.mean(converted)) if len(converted) else 0.0
    out: list[float | None] = []
    for category in categories:
        hit = text == category
        n = int(hit.sum())
        if overall == 0 or n < LIFT_MIN_ACCOUNTS or category == OTHER:
            out.append(None)
            continue
        rate = (float(converted[hit].sum()) + LIFT_PRIOR * overall) / (n + LIFT_PRIOR)
        out.append(round(rate / overall, 2))
    return tuple(out)


def identifier(name: str, values: pd.Series, numeric: bool, share: float | None) -> str | None:
    """Why a fit column is an identifier (None: it is not one)."""
    if share is None:
        return None
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values) or len(present) == 0:
        return None
    distinct = int(present.astype(str).nunique()) if not numeric and not isinstance(
        present.dtype, pd.CategoricalDtype) else int(present.nunique())
    if distinct < ID_MIN_DISTINCT:
        return None
    if not numeric and distinct >= share * len(present):
        return f"{distinct:,} distinct values in {len(present):,} accounts, features.id_like_share={share}"
    if numeric and id_like_name(name) and distinct == len(present):
        return f"an id-like name and {distinct:,} distinct numbers in {len(present):,} accounts"
    return None


def check_names(fit_columns: Sequence[Column], generated: Sequence[Column]) -> None:
    """A fit attribute may not have the name of a generated feature (DataError)."""
    names = {c.name for c in generated}
    for col in fit_columns:
        if col.name in names:
            raise DataError("accounts", col.name, "has the name of a generated feature; rename it in the data")


def values_of(tables: Tables, spec: FeatureSpec) -> dict[str, pd.Categorical | np.ndarray]:
    """Every account's ``accounts`` fit columns as the spec types them (cast once, then taken per snapshot;
    attributes with a history are then read as of each snapshot, see :func:`features.asof.fit_values`)."""
    out: dict[str, pd.Categorical | np.ndarray] = {}
    for col in spec.columns:
        if col.group != "fit":
            continue
        if col.name not in tables.accounts.columns:
            if tables.attributes is not None:
                continue  # an attribute only in the history (here without rows: missing), see features.asof
            raise DataError("accounts", col.name, "is missing: the feature spec (the model) needs this fit attribute")
        values = tables.accounts[col.name]
        if col.is_categorical:
            out[col.name] = spec.categorize(values, col)
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        unreadable = numbers.isna() & values.notna()
        if unreadable.any():
            example = values[unreadable].iloc[0]
            raise DataError("accounts", col.name, f"should be numeric (the model was trained on numbers) but holds "
                                                  f"{int(unreadable.sum()):,} text values, e.g. {example!r}")
        out[col.name] = numbers.astype("float64").to_numpy()
    return out
