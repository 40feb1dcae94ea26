"""Reading the conversions: each known account's first conversion, the others set aside and counted."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import DataConfig
from features.data.checks import check_columns, columns_of, not_all_unknown
from features.data.sources import Source
from features.tables import NEVER, LoadReport


def read_conversions(source: Source, config: DataConfig, n_accounts: int, join_on: str,
                     report: LoadReport) -> tuple[pd.DataFrame, np.ndarray]:
    """The conversions kept (each account's first, of known accounts), sorted by account row and time, and
    the instant (epoch us) each of the ``n_accounts`` accounts converted (``NEVER``: not converted)."""
    has = columns_of(source, "conversions")
    n, _ = check_columns(source, "conversions", config, has)
    report.rows_read["conversions"] = n
    cols = "t.account_id, t.converted_at" + (", t.amount" if "amount" in has else "")
    conv = source.con.execute(f"SELECT {cols}, coalesce(k.k, -1)::INTEGER AS k FROM canon_conversions t "
                              f"LEFT JOIN account_keys k ON {join_on} = k.account_id").df()
    known = conv["k"].to_numpy() >= 0
    report.set_aside["conversions: unknown account"] = int((~known).sum())
    not_all_unknown("conversions", config, n, int((~known).sum()))
    conv = conv[known].sort_values(["k", "converted_at"], kind="stable")
    first = ~conv["k"].duplicated()
    report.set_aside["conversions: repeat conversions of a converted account"] = int((~first).sum())
    conv = conv[first]
    converted = np.full(n_accounts, NEVER, dtype=np.int64)
    converted[conv["k"].to_numpy()] = conv["converted_at"].astype("datetime64[us]").to_numpy().view("int64")
    out = conv.drop(columns="k").reset_index(drop=True)
    out["converted_at"] = out["converted_at"].astype("datetime64[us]")
    return out, converted
