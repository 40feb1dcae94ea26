"""The demo world's tables as frames (demo.frames): ids that sort as they number, Arrow-backed text columns,
and conversions recorded only from ``labels_after_days`` on."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from demo.config import US_PER_DAY, DemoConfig
from demo.frames import account_ids, conversion_frame, string_column


def test_account_ids_are_zero_padded_to_one_width_and_sort_as_they_number():
    assert account_ids(3).tolist() == ["acc_000000", "acc_000001", "acc_000002"]
    big = account_ids(1_234_567)
    assert big[0] == "acc_0000000" and big[-1] == "acc_1234566"
    assert len({len(i) for i in big[::1000]}) == 1 and (np.sort(big[::977]) == big[::977]).all()
    assert account_ids(0).tolist() == []


def test_string_column_looks_codes_up():
    column = string_column(["free", "trial"], np.array([1, 0, 1, 1]))
    assert column.tolist() == ["trial", "free", "trial", "trial"]
    assert isinstance(column.dtype, pd.StringDtype)


def test_conversions_before_labels_after_days_are_not_recorded():
    ids = account_ids(4)
    buyers, conv_us = np.array([0, 2, 3]), np.array([2, 9, 30]) * US_PER_DAY
    amount = np.array([100.0, 200.0, 300.0])
    cfg = DemoConfig(start="2024-01-01")
    every = conversion_frame(cfg, ids, buyers, conv_us, amount)
    assert every["account_id"].tolist() == ["acc_000000", "acc_000002", "acc_000003"]
    assert every["converted_at"].tolist()[0] == pd.Timestamp("2024-01-03")
    late = conversion_frame(replace(cfg, labels_after_days=9), ids, buyers, conv_us, amount)
    assert late["account_id"].tolist() == ["acc_000002", "acc_000003"] and late["amount"].tolist() == [200.0, 300.0]
    assert buyers.tolist() == [0, 2, 3]  # the inputs are left as they were
