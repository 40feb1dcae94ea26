"""Fit attributes as they were: the attribute history (``account_attributes``) joined as of each snapshot.

At as-of ``t`` an attribute of an account holds the value of its history row with the latest ``valid_from``
strictly before ``t``; before its first row, the account's own ``accounts`` column of that name (when there is
one), else it is missing. Rows at or after ``t`` never reach a feature at ``t``. Training and scoring, the
local engine and every Spark bucket read values through :func:`fit_values` and :func:`numbers_at`.

>>> import numpy as np
>>> from features.tables import AttributeHistory
>>> h = AttributeHistory(("plan",), np.zeros(3, np.int16), np.array([0, 0, 1], np.int32),
...                      np.array([10, 20, 5]), np.array([0, 1, 1], np.int32), np.array(["free", "pro"], object))
>>> latest_rows(h, "plan", np.array([0, 0, 0, 1, 1]), np.array([10, 11, 21, 5, 6])).tolist()
[-1, 0, 1, -1, 2]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import DataError
from features.snapshots import reach_limits
from features.spec import Column, FeatureSpec
from features.tables import AttributeHistory, Tables

TABLE = "account_attributes"


def latest_rows(history: AttributeHistory, name: str, account: np.ndarray, t_us: np.ndarray | int) -> np.ndarray:
    """Per query (an account row and an instant), the history row of attribute ``name`` with the latest
    ``valid_from`` before the instant, or -1 (no such row).

    Hand-written because no library joins as of per key without a frame per call: instants are ranked against
    the few distinct query instants, so (account, rank) is one sorted int64 key that ``searchsorted`` reads.
    """
    rows = history.rows_of(name)
    account = np.asarray(account, dtype=np.int64)
    t_us = np.broadcast_to(np.asarray(t_us, dtype=np.int64), account.shape)
    if rows.stop == rows.start or not len(account):
        return np.full(len(account), -1, dtype=np.int64)
    instants, at = _ranked(t_us)
    width = len(instants) + 1
    owner = history.account[rows].astype(np.int64)
    # rank r: how many query instants are <= valid_from, so valid_from < instants[j] <=> r <= j
    key = owner * width + np.searchsorted(instants, history.valid_us[rows], side="right")
    query = account * width + at + 1
    found = np.searchsorted(key, query, side="left") - 1
    hit = found >= 0
    hit[hit] = owner[found[hit]] == account[hit]
    return np.where(hit, found + rows.start, -1)


def _ranked(t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct instants of the queries, sorted, and each query's position among them. Queries in time order
    (a feature table's rows are, by as-of) are ranked by one pass: no sort or hash of millions of instants.

    >>> [x.tolist() for x in _ranked(np.array([5, 5, 9, 12, 12]))]
    [[5, 9, 12], [0, 0, 1, 2, 2]]
    """
    if len(t_us) and bool((t_us[1:] >= t_us[:-1]).all()):
        new = np.empty(len(t_us), dtype=bool)
        new[0] = True
        np.not_equal(t_us[1:], t_us[:-1], out=new[1:])
        return t_us[new], np.cumsum(new) - 1
    instants, at = np.unique(t_us, return_inverse=True)
    return instants, at.reshape(-1)


def text_numbers(history: AttributeHistory) -> np.ndarray:
    """The history's distinct values read as numbers (NaN where a value is text)."""
    return pd.to_numeric(pd.Series(history.texts, dtype=object), errors="coerce").to_numpy(float)


def _numbers(history: AttributeHistory, name: str, rows: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """The numbers of the history rows ``rows`` (NaN for -1 or a missing value); a used value that is not a
    number is a DataError (the attribute was typed numeric)."""
    codes = np.where(rows >= 0, history.value[np.maximum(rows, 0)], -1)
    out = np.r_[numbers, np.nan][codes]  # code -1 (no row, or a missing value) reads the NaN appended last
    bad = (codes >= 0) & np.isnan(out)
    if bad.any():
        raise DataError(TABLE, "value", f"{int(bad.sum()):,} values of attribute {name!r} used by features are "
                                        f"not numbers (it is numeric), e.g. {str(history.texts[codes[bad][0]])!r}")
    return out


def numbers_at(tables: Tables, name: str, accounts: np.ndarray, t_us: int) -> np.ndarray:
    """A numeric attribute of the accounts (rows of ``tables.accounts``) as it was at ``t_us`` (float, NaN:
    unknown): the history where it has a row before ``t_us``, else the accounts column, if any."""
    own = (pd.to_numeric(tables.accounts[name].iloc[accounts], errors="coerce").to_numpy(float)
           if name in tables.accounts.columns else np.full(len(accounts), np.nan))
    history = tables.attributes
    if history is None or name not in history.names:
        return own
    rows = latest_rows(history, name, accounts, t_us)
    return np.where(rows >= 0, _numbers(history, name, rows, text_numbers(history)), own)


def fit_values(tables: Tables, spec: FeatureSpec, own: dict, account_rows: np.ndarray,
               as_of_us: np.ndarray) -> dict[str, pd.Categorical | np.ndarray]:
    """The fit columns that have a history, one value per output row (an account row and its as-of), typed as
    the spec types them; ``own`` holds the accounts columns as :func:`features.families.fit.values_of` cast them
    (per account), used before an account's first history row."""
    history = tables.attributes
    out: dict[str, pd.Categorical | np.ndarray] = {}
    if history is None:
        return out
    numbers = text_numbers(history)
    for col in spec.columns:
        if col.group != "fit" or (col.name not in history.names and col.name in own):
            continue
        # (an attribute of the spec without rows here, e.g. in a Spark bucket, is missing throughout)
        rows = latest_rows(history, col.name, account_rows, as_of_us)
        if col.is_categorical:
            out[col.name] = _categories(history, col, spec, rows, own.get(col.name), account_rows)
            continue
        before = own[col.name][account_rows] if col.name in own else np.nan
        out[col.name] = np.where(rows >= 0, _numbers(history, col.name, rows, numbers), before)
    return out


def _categories(history: AttributeHistory, col: Column, spec: FeatureSpec, rows: np.ndarray,
                own: pd.Categorical | None, account_rows: np.ndarray) -> pd.Categorical:
    """A categorical attribute per output row: the history's value cast to the spec's categories, else the
    accounts column's (already cast)."""
    of_text = spec.categorize(pd.Series(history.texts, dtype=object), col).codes.astype(np.int64)
    value = np.where(rows >= 0, history.value[np.maximum(rows, 0)], -1)
    codes = np.where(value >= 0, of_text[np.maximum(value, 0)] if len(of_text) else -1, -1)
    before = own.codes[account_rows] if own is not None else np.full(len(rows), -1)
    codes = np.where(rows >= 0, codes, before)
    return pd.Categorical.from_codes(codes, categories=list(col.categories or ()))


def reachable_values(tables: Tables, name: str, before_us: int) -> tuple[pd.Series, np.ndarray]:
    """The values of a fit attribute that can reach a feature at some as-of ``s <= before_us``, and each one's
    account (row number): the accounts column of the accounts that can be eligible by then (while no history
    row applies), and the history rows that are the latest before some such ``s`` (a row reaches iff
    ``max(valid_from, created) < min(before_us, converted, next valid_from)``)."""
    limit = reach_limits(tables, before_us)
    history = tables.attributes
    own_col = tables.accounts[name] if name in tables.accounts.columns else None
    if history is None or name not in history.names:
        accounts = np.flatnonzero(tables.created_us < limit)
        return (own_col.iloc[accounts].reset_index(drop=True) if own_col is not None
                else pd.Series([], dtype=object)), accounts
    rows = history.rows_of(name)
    owner, valid = history.account[rows], history.valid_us[rows]
    last = np.r_[owner[1:] != owner[:-1], True]
    upper = np.minimum(limit[owner], np.where(last, np.iinfo(np.int64).max, np.r_[valid[1:], 0]))
    reach = np.maximum(valid, tables.created_us[owner]) < upper
    first = np.full(tables.n_accounts, np.iinfo(np.int64).max)
    starts = np.r_[True, owner[1:] != owner[:-1]]
    first[owner[starts]] = valid[starts]  # each account's first valid_from: its own column applies before it
    accounts = np.flatnonzero(tables.created_us < np.minimum(limit, first))
    codes, owners = history.value[rows][reach], np.r_[accounts, owner[reach]].astype(np.int64)
    own = own_col.iloc[accounts] if own_col is not None else None
    if own is not None and pd.api.types.is_numeric_dtype(own) and not isinstance(own.dtype, pd.CategoricalDtype):
        numbers = np.r_[text_numbers(history), np.nan][codes]  # code -1 (missing) reads the NaN appended last
        return pd.Series(np.r_[own.to_numpy(float, na_value=np.nan), numbers]), owners
    return _categorical(history.texts, codes, own, len(accounts)), owners


def _categorical(texts: np.ndarray, codes: np.ndarray, own: pd.Series | None, n_own: int) -> pd.Series:
    """History values (codes into ``texts``) after the accounts column's ``n_own`` values ``own`` (None: all
    missing), as one categorical: millions of values are counted by code, never turned into strings one by one."""
    own_codes, own_texts = (pd.factorize(own.astype("string")) if own is not None
                            else (np.full(n_own, -1, dtype=np.int64), []))
    categories, inverse = np.unique(np.r_[np.asarray(texts, dtype=str), np.asarray(own_texts, dtype=str)],
                                    return_inverse=True)
    lookup = np.r_[inverse, -1]  # code -1 (missing) reads the -1 appended last
    joined = np.r_[lookup[len(texts):][own_codes] if len(own_codes) else np.empty(0, np.int64), lookup[codes]]
    return pd.Series(pd.Categorical.from_codes(joined.astype(np.int64), categories=categories.astype(object)))

def merged_history(parts: list[AttributeHistory | None], sizes: list[int],
                   order: np.ndarray) -> AttributeHistory | None:
    """The histories of parts of the accounts (a Spark bucket each: ``sizes[i]`` accounts, numbered within it) as
    one, for the accounts concatenated part after part and then taken in ``order`` (None: no part has one)."""
    if all(p is None for p in parts):
        return None
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))  # concatenated account -> its row in the ordered accounts
    kept = [(p, int(o)) for p, o in zip(parts, offsets) if p is not None]
    names = tuple(sorted({n for p, _ in kept for n in p.names}))
    texts, codes = np.unique(np.concatenate([p.texts.astype(str) for p, _ in kept] + [np.array([], str)]),
                             return_inverse=True)
    attr, account, valid, value, base = [], [], [], [], 0
    for part, offset in kept:
        attr.append(np.array([names.index(n) for n in part.names], dtype=np.int16)[part.attr] if len(part) else
                    np.empty(0, np.int16))
        account.append(position[part.account.astype(np.int64) + offset].astype(np.int32))
        valid.append(part.valid_us)
        value.append(np.where(part.value >= 0, codes[base + np.maximum(part.value, 0)] if len(codes) else -1,
                              -1).astype(np.int32))
        base += len(part.texts)
    attr, account, valid, value = (np.concatenate(x) for x in (attr, account, valid, value))
    sort = np.lexsort((valid, account, attr))
    return AttributeHistory(names, attr[sort], account[sort], valid[sort], value[sort], texts.astype(object))
