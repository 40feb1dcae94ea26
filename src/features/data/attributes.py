"""Reading the optional ``account_attributes`` table (fit attributes as they were known over time) into an
:class:`~features.tables.AttributeHistory`.

Errors (one line naming table, column and problem; the run stops before any feature is computed): a null
account id, attribute name or ``valid_from``, an unparseable ``valid_from``, a row of an account missing from
``accounts``, an attribute named like a key or date column of ``accounts`` (``account_id``, ``created_at``: not
fit attributes), text values of an attribute that ``accounts`` holds as numbers, and the same attribute of one
account given two different values at the same ``valid_from``. Exact repeats of a row are set aside and counted.
An attribute that is also an ``accounts`` column is allowed: the history gives its value from its first
``valid_from`` on, the ``accounts`` column before (see :mod:`features.asof`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import DataConfig
from features.data.checks import check_columns, examples
from features.data.sources import Source
from features.errors import DataError
from features.tables import AttributeHistory, LoadReport

TABLE = "account_attributes"


def read_attributes(source: Source, config: DataConfig, join_on: str, accounts: pd.DataFrame,
                    report: LoadReport, dropped: tuple[str, ...] = ()) -> AttributeHistory | None:
    """The attribute history of the source (None when it has no ``account_attributes`` table), checked;
    ``accounts`` is the accounts frame (ids, ``created_at`` and fit columns), ``dropped`` its date columns."""
    if TABLE not in source.tables:
        return None
    col = lambda name: config.column(TABLE, name) or name  # noqa: E731 - the user's column name
    rows = _rows(source, join_on)
    report.rows_read[TABLE] = len(rows["k"])
    if rows["valid"].null_count or bool((rows["k"] < 0).any()):
        # a null account id or valid_from, or an unreadable one: the column checks name it first (they scan the
        # table again, so only when the rows read show something: ~0.2 s at 4.5 M rows)
        check_columns(source, TABLE, config, set())
    rows["valid_us"] = rows.pop("valid").to_numpy().astype(np.int64)
    nulls = rows["attribute"].null_count  # counted on the rows read (a scan of its own cost ~0.2 s at 4.5 M rows)
    if nulls:
        raise DataError(TABLE, col("attribute"), f"{nulls:,} rows have a null attribute name (a key)")
    unknown = int(np.count_nonzero(rows["k"] < 0))
    if unknown:
        ex = examples(source, TABLE, "account_id NOT IN (SELECT account_id FROM account_keys)", "account_id")
        raise DataError(TABLE, col("account_id"), f"{unknown:,} rows name accounts that are not in accounts, e.g. {ex}")
    history = _history(rows)
    _check_names(history.names, accounts, config, dropped)
    history, repeats = _drop_repeats(history, config)
    report.set_aside[f"{TABLE}: exact duplicates"] = repeats
    _check_numeric(history, accounts, config)
    return history


def _check_names(names: tuple[str, ...], accounts: pd.DataFrame, config: DataConfig, dropped: tuple[str, ...]) -> None:
    """An attribute named like an accounts key or date column cannot be a fit attribute (DataError)."""
    reserved = {"account_id", "created_at", str(config.column("accounts", "account_id")),
                str(config.column("accounts", "created_at")), *dropped}
    clash = sorted(set(names) & reserved)
    if clash:
        raise DataError(TABLE, config.column(TABLE, "attribute") or "attribute",
                        f"names {clash[0]!r}, a key or date column of accounts, not a fit attribute; "
                        f"rename the attribute")


def _rows(source: Source, join_on: str) -> dict[str, object]:
    """The rows: ``k`` (the account's row, -1: unknown or null), ``attribute``, ``value`` and ``valid`` (Arrow: the
    instant in us, null when ``valid_from`` is missing or unreadable), in no particular order (:func:`_history`
    sorts them). DuckDB joins the ids on the account keys (~0.95 CPU s at 4.5 M rows, where a scan to Arrow and
    Arrow's ``index_in`` took ~1.3); sorting by the text columns there was what made a DuckDB read slow (36 s)."""
    table = source.con.sql(f"SELECT coalesce(k.k, -1)::INTEGER AS k, t.attribute, t.value, "
                           f"epoch_us(t.valid_from) AS valid_us FROM canon_{TABLE} t "
                           f"LEFT JOIN account_keys k ON {join_on} = k.account_id").to_arrow_table()
    return {"k": table.column("k").to_numpy(), "attribute": table.column("attribute"),
            "value": table.column("value"), "valid": table.column("valid_us")}


def _history(rows: dict[str, object]) -> AttributeHistory:
    """The rows as integer-coded arrays sorted by attribute, account, ``valid_from`` (then value, so that the
    order never depends on the source's row order); values coded by their distinct texts, sorted."""
    attribute = rows["attribute"].combine_chunks().dictionary_encode()
    names = np.asarray(attribute.dictionary.to_pylist(), dtype=object)
    name_rank = np.argsort(np.argsort(names.astype(str), kind="stable"))
    attr = name_rank[attribute.indices.to_numpy(zero_copy_only=False)]
    value = rows["value"].combine_chunks().dictionary_encode()
    texts = np.asarray(value.dictionary.to_pylist(), dtype=object)
    text_rank = np.r_[np.argsort(np.argsort(texts.astype(str), kind="stable")), -1]  # code -1 (null): the -1 last
    codes = text_rank[value.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    order = _order(attr, rows["k"], rows["valid_us"], codes)
    k, valid = rows["k"], rows["valid_us"]
    return AttributeHistory(tuple(str(n) for n in np.sort(names.astype(str))), attr[order].astype(np.int16),
                            k[order].astype(np.int32), valid[order], codes[order].astype(np.int32),
                            np.sort(texts.astype(str)).astype(object))


def _order(attr: np.ndarray, k: np.ndarray, valid: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The permutation sorting rows by attribute, account, instant and value.

    One 64-bit word per row, sorted once: the series (attribute, account) in the high bits, the instant in the
    bits left above the row number (shifted right just enough to fit: a monotone map, so rows it tells apart are
    in instant order), the row number in the low bits. A sort of words is ~2x faster than an argsort of keys,
    ~3x faster than ranking the instants first, ~6x faster than a lexsort of four keys. Rows that tie on series
    and shifted instant (repeats, two values at one instant, two instants of one series closer than the shift:
    few) are then put in order among themselves by a lexsort of just those rows."""
    n = len(valid)
    index_bits = max(n - 1, 1).bit_length()
    series = attr.astype(np.int64) * (int(k.max(initial=0)) + 1) + k
    room = 64 - index_bits - int(series.max(initial=0) + 1).bit_length()  # bits left for the instant
    if room < 8:  # the series and row numbers nearly fill a word: coarse instants would tie too often
        return np.lexsort((codes, valid, series))
    low, high = (int(valid.min()), int(valid.max())) if n else (0, 0)
    instant = (valid - low) >> max((high - low + 1).bit_length() - room, 0)
    words = (series.astype(np.uint64) << (room + index_bits)) | (instant.astype(np.uint64) << index_bits)
    words |= np.arange(n, dtype=np.uint64)
    words.sort()
    order = (words & np.uint64((1 << index_bits) - 1)).astype(np.int64)
    coarse = words >> np.uint64(index_bits)
    same = coarse[1:] == coarse[:-1]
    if same.any():
        # a run of equal words (but for the row number) is one series in consecutive places: sorting those
        # places by (word, instant, value) keeps each run in its places and orders it
        at = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
        tied = order[at]
        order[at] = tied[np.lexsort((codes[tied], valid[tied], coarse[at]))]
    return order


def _drop_repeats(history: AttributeHistory, config: DataConfig) -> tuple[AttributeHistory, int]:
    """Exact repeats of a row removed (and counted); two values at one instant are a DataError."""
    same = ((history.attr[1:] == history.attr[:-1]) & (history.account[1:] == history.account[:-1])
            & (history.valid_us[1:] == history.valid_us[:-1]))
    if not same.any():
        return history, 0
    differ = same & (history.value[1:] != history.value[:-1])
    if differ.any():
        i = int(np.flatnonzero(differ)[0])
        shown = [None if v < 0 else str(history.texts[v]) for v in history.value[i:i + 2]]
        when = pd.Timestamp(int(history.valid_us[i]), unit="us")
        raise DataError(TABLE, config.column(TABLE, "value") or "value",
                        f"{int(differ.sum()):,} times an attribute of an account has two values at one valid_from, "
                        f"e.g. {history.names[history.attr[i]]!r} {shown[0]!r} and {shown[1]!r} at {when}")
    keep = np.r_[True, ~same]
    return AttributeHistory(history.names, history.attr[keep], history.account[keep], history.valid_us[keep],
                            history.value[keep], history.texts), int(same.sum())


def _check_numeric(history: AttributeHistory, accounts: pd.DataFrame, config: DataConfig) -> None:
    """Text values of an attribute that ``accounts`` holds as numbers are a DataError (the column's type is the
    attribute's type)."""
    numbers = pd.to_numeric(pd.Series(history.texts, dtype=object), errors="coerce").to_numpy(float)
    for code, name in enumerate(history.names):
        if name not in accounts.columns or not _is_numeric(accounts[name]):
            continue
        rows = history.value[history.rows_of(name)]
        bad = rows[(rows >= 0) & np.isnan(np.r_[numbers, np.nan][rows])]  # code -1 (missing) reads the NaN last
        if len(bad):
            raise DataError(TABLE, config.column(TABLE, "value") or "value",
                            f"{len(bad):,} values of attribute {name!r} are not numbers (accounts holds it as "
                            f"numbers), e.g. {str(history.texts[bad[0]])!r}")


def _is_numeric(values: pd.Series) -> bool:
    """Whether a fit column is typed as numbers (booleans count), as the fit family types it."""
    return pd.api.types.is_bool_dtype(values) or (pd.api.types.is_numeric_dtype(values)
                                                  and not isinstance(values.dtype, pd.CategoricalDtype))
