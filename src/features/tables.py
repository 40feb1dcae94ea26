"""The validated tables, in the shape the feature builder works on.

Accounts stay a small pandas frame; events and touches become integer-coded columns (numpy),
because tens of millions of rows are cheaper as five arrays than as a frame of Python strings.
Every instant is ``int64`` microseconds since the epoch, UTC (see :mod:`features.windows`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NEVER = np.iinfo(np.int64).max  # "no conversion": later than any instant


def kind_dtype(names: int) -> type:
    """The dtype of kind codes for ``names`` names: 2 bytes a row when they fit (200 MB less at 100 M events)."""
    return np.int16 if names <= np.iinfo(np.int16).max + 1 else np.int32


@dataclass(frozen=True)
class EventLog:
    """Rows of (account, kind, instant), kinds coded by their index in ``names``.

    ``account`` is the row number of the account in ``Tables.accounts``; ``user`` is a 64-bit hash
    of the user id (distinct users are counted by hash: two ids collide with probability ~1e-19);
    ``quantity`` is None when the table has no quantity column.
    """

    account: np.ndarray  # int32
    kind: np.ndarray  # int16 (int32 with more names than int16 holds, see kind_dtype)
    ts: np.ndarray  # int64 us
    names: tuple[str, ...]
    user: np.ndarray | None = None  # uint64
    quantity: np.ndarray | None = None  # float64

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, mask: np.ndarray) -> "EventLog":
        """The rows where ``mask`` is true."""
        def pick(column: np.ndarray | None) -> np.ndarray | None:
            return None if column is None else column[mask]

        return EventLog(self.account[mask], self.kind[mask], self.ts[mask], self.names, pick(self.user),
                        pick(self.quantity))

    def code(self, name: str) -> int | None:
        """The code of a kind by name (None if the kind never occurs)."""
        try:
            return self.names.index(name)
        except ValueError:
            return None

    @classmethod
    def empty(cls, names: tuple[str, ...] = ()) -> "EventLog":
        """A log without rows (kinds named ``names``)."""
        return cls(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), names)


@dataclass(frozen=True)
class Users:
    """The people of the accounts (the optional ``users`` table), one row per user in the table's order.

    ``account`` is each user's account row in ``Tables.accounts``, ``created_us`` when the user joined (a user
    counts from then on), ``user`` the 64-bit hash of the user id that :class:`EventLog` uses (so events find
    their user), ``ids`` the user ids as the data spells them, ``attributes`` the table's other columns
    (``title``, ``role``, ...), one row per user in the same order.
    """

    account: np.ndarray  # int32
    created_us: np.ndarray  # int64
    user: np.ndarray  # uint64
    ids: pd.Series
    attributes: pd.DataFrame

    def __len__(self) -> int:
        return len(self.account)


@dataclass(frozen=True)
class AttributeHistory:
    """The ``account_attributes`` table: each row says attribute ``names[attr]`` of account ``account`` holds
    ``texts[value]`` (-1: missing) from ``valid_us`` on. Rows are sorted by attribute, account, then
    ``valid_us``, one row per (attribute, account, instant) (see :mod:`features.asof` for the join).
    """

    names: tuple[str, ...]
    attr: np.ndarray  # int16: index in names
    account: np.ndarray  # int32: row of the account in Tables.accounts
    valid_us: np.ndarray  # int64 us
    value: np.ndarray  # int32: index in texts, -1 for a missing value
    texts: np.ndarray  # object: the distinct values as text

    def __len__(self) -> int:
        return len(self.valid_us)

    def rows_of(self, name: str) -> slice:
        """The rows of one attribute (an empty slice when it has none)."""
        if name not in self.names:
            return slice(0, 0)
        code = self.names.index(name)
        return slice(*np.searchsorted(self.attr, [code, code + 1]).tolist())


@dataclass(frozen=True)
class Tables:
    """The tables after mapping, validation and setting aside (``touches`` and ``users`` None when absent).

    ``created_us[i]`` and ``converted_us[i]`` belong to ``accounts.iloc[i]``; ``converted_us`` is the
    first conversion (``NEVER`` when none). ``fit_columns`` are the accounts' fit attributes.
    ``data_end_us`` is just after the newest instant in events, conversions and touches. ``attributes`` is
    the attribute history (fit attributes as they were), whose attributes are fit columns too.
    """

    accounts: pd.DataFrame
    created_us: np.ndarray
    converted_us: np.ndarray
    events: EventLog
    touches: EventLog | None
    fit_columns: tuple[str, ...]
    data_end_us: int
    conversions: pd.DataFrame = field(default_factory=pd.DataFrame)
    users: Users | None = None
    attributes: AttributeHistory | None = None  # the optional account_attributes table

    @property
    def n_accounts(self) -> int:
        """How many accounts there are."""
        return len(self.accounts)


@dataclass
class LoadReport:
    """What loading read and what it set aside (reported on every run, never silently dropped)."""

    source: str
    rows_read: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)  # "events: exact duplicates" -> count
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"source: {self.source}"]
        out.append("rows read: " + ", ".join(f"{t} {n:,}" for t, n in self.rows_read.items()))
        kept = {k: n for k, n in self.set_aside.items() if n}
        out.append("rows set aside: " + (", ".join(f"{k} {n:,}" for k, n in kept.items()) if kept else "none"))
        out += self.notes
        return out
