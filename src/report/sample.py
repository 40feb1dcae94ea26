"""A sample of tier-1 accounts for the report: the newest backtest week's top tier-1 accounts, each with its
score, whether it converted within the horizon, and its contacts (who a rep would have called: decision
makers first, :mod:`features.contacts`), read as of that week's snapshot."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engines.dispatch import engine_of
from features.contacts import contacts
from features.tables import Tables
from features.windows import instant_us

SAMPLE = 5  # accounts shown


def tier1_sample(test: pd.DataFrame, tables: Tables | None, buyers: dict[str, str] | None,
                 n: int = SAMPLE) -> list[dict]:
    """Up to ``n`` tier-1 accounts of the newest backtest snapshot, best score first: ``account``, ``score``
    (a percentage), ``converted`` (yes / no), ``contacts`` (empty without a users table)."""
    if test is None or test.empty or "pql_tier" not in test or "as_of" not in test:
        return []
    newest = test[test["as_of"] == test["as_of"].max()]
    top = newest[pd.to_numeric(newest["pql_tier"], errors="coerce") == 1].sort_values(
        ["score", "account_id"], ascending=[False, True], kind="stable").head(n)
    if top.empty:
        return []
    people = [""] * len(top)
    if tables is not None and tables.users is not None:
        task = ContactsTask(tuple(top["account_id"]), instant_us(top["as_of"].iloc[0]), buyers)
        # buckets of accounts (either engine) keep their users in the buckets: the engine runs the task on each
        found = engine_of(tables).map_accounts(tables, task)[0]
        text = dict(zip(found["account_id"], found["contacts"]))
        people = [t if isinstance(t, str) else "" for t in (text.get(a) for a in top["account_id"])]
    label = top["label"].to_numpy() if "label" in top else np.full(len(top), np.nan)
    return [{"account": str(a), "score": f"{s:.0%}", "converted": "" if pd.isna(y) else ("yes" if y else "no"),
             "contacts": c} for a, s, y, c in zip(top["account_id"], top["score"], label, people)]


@dataclass(frozen=True)
class ContactsTask:
    """The contacts of some accounts as of an instant (:func:`features.contacts.contacts`), as a task an engine
    maps over its buckets: one row per account of ``accounts`` the tables hold."""

    accounts: tuple
    t_us: int
    buyers: dict[str, str] | None = None

    def __call__(self, tables: Tables, progress: bool = False) -> tuple[pd.DataFrame]:
        """(``as_of``, ``account_id``, ``contacts``) of the accounts found in ``tables``."""
        rows = pd.Index(tables.accounts["account_id"]).get_indexer(pd.Series(list(self.accounts)))
        rows = rows[rows >= 0]
        found = contacts(tables, rows, self.t_us, self.buyers) if len(rows) else None
        ids = tables.accounts["account_id"].to_numpy()[rows]
        return (pd.DataFrame({"as_of": pd.Timestamp(self.t_us, unit="us"), "account_id": ids,
                              "contacts": found.to_numpy() if found is not None else [None] * len(rows)}),)
