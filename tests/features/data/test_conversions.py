"""Reading the conversions (features.data.conversions): each known account's first conversion is kept, repeat
conversions and unknown accounts are set aside and counted, and every account gets its conversion instant."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.data.load import load_frames
from features.tables import NEVER


def _us(text: str) -> int:
    return pd.Timestamp(text).value // 1000


def _conversions(rows: list[tuple[str, str]], amount: list[float] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["account_id", "converted_at"]).astype({"converted_at": "datetime64[us]"})
    return frame if amount is None else frame.assign(amount=amount)


def test_the_first_conversion_of_each_account_is_kept_and_repeats_are_counted(make_frames):
    conversions = _conversions([("b", "2024-03-01"), ("a", "2024-02-10"), ("b", "2024-02-20"), ("a", "2024-04-01")],
                               amount=[5.0, 1.0, 4.0, 9.0])
    tables, report = load_frames(make_frames(conversions=conversions))
    assert report.rows_read["conversions"] == 4
    assert report.set_aside["conversions: repeat conversions of a converted account"] == 2
    assert tables.conversions["account_id"].tolist() == ["a", "b"]  # account order, then time
    assert tables.conversions["amount"].tolist() == [1.0, 4.0]
    assert tables.converted_us.tolist() == [_us("2024-02-10"), _us("2024-02-20")]


def test_unknown_accounts_are_set_aside_and_an_account_without_conversion_never_converted(make_frames):
    conversions = _conversions([("a", "2024-02-10"), ("zz", "2024-02-11")])
    tables, report = load_frames(make_frames(conversions=conversions))
    assert report.set_aside["conversions: unknown account"] == 1
    assert tables.converted_us[1] == NEVER and tables.converted_us.dtype == np.int64
    assert "amount" not in tables.conversions and tables.conversions["converted_at"].dtype == "datetime64[us]"


def test_no_conversions_at_all(make_frames):
    tables, report = load_frames(make_frames())
    assert report.rows_read["conversions"] == 0 and (tables.converted_us == NEVER).all()
    assert tables.conversions.empty
