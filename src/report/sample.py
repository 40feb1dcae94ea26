"""A sample of tier-1 accounts for the report: the newest backtest week's top tier-1 accounts, each with its
score, whether it converted within the horizon, and its contacts (who a rep would have called: decision
makers first, :mod:`features.contacts`), read as of that week's snapshot."""
from __future__ import annotations

import numpy as np
import pandas as pd

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
        rows = pd.Index(tables.accounts["account_id"]).get_indexer(top["account_id"])
        found = contacts(tables, rows, instant_us(top["as_of"].iloc[0]), buyers)
        people = [text if isinstance(text, str) else "" for text in found.tolist()]
    label = top["label"].to_numpy() if "label" in top else np.full(len(top), np.nan)
    return [{"account": str(a), "score": f"{s:.0%}", "converted": "" if pd.isna(y) else ("yes" if y else "no"),
             "contacts": c} for a, s, y, c in zip(top["account_id"], top["score"], label, people)]
