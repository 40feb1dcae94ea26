"""Reading the event and touch logs (features.data.logs): non-finite quantities are set aside with a count, or an error in strict mode."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.build import build_features
from features.config import DataConfig, FeatureConfig
from features.data.load import load_tables
from features.errors import DataError
from features.plan import plan_features


T = pd.Timestamp("2024-05-01").as_unit("us")


CONFIG = FeatureConfig(windows=(7, 30))


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _frames(quantities, days_before):
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [ts("2023-01-01")] * 2})
    n = len(quantities)
    events = pd.DataFrame({"account_id": ["a"] * n + ["b"], "event": ["upload"] * (n + 1),
                           "timestamp": [T - pd.Timedelta(days=d) for d in days_before] + [T - pd.Timedelta(days=1)],
                           "quantity": list(quantities) + [2.0]})
    events["timestamp"] = events["timestamp"].astype("datetime64[us]")
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": None}


def _write(folder, frames, events_table=None):
    for name, frame in frames.items():
        if frame is not None and name != "events":
            frame.to_parquet(folder / f"{name}.parquet")
    if events_table is not None:
        pq.write_table(events_table, folder / "events.parquet")


def _row(frame, account="a"):
    return frame.set_index("account_id").loc[account]


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_quantities_are_set_aside_and_counted(tmp_path, bad):
    frames = _frames([1.0, 3.0], [100, 2])
    _write(tmp_path, frames)
    events = frames["events"].assign(quantity=[bad, "3", "2"])  # the old row is NaN / inf
    events.to_csv(tmp_path / "events.csv", index=False)
    tables, report = load_tables(DataConfig(dir=str(tmp_path)))
    assert report.set_aside["events: non-finite quantity"] == 1
    assert any("non-finite quantity 1" in line for line in report.lines())
    row = _row(build_features(tables, [T], plan_features(tables, T, CONFIG)))
    assert row["upload_quantity_7d"] == 3.0 and row["upload_quantity_all"] == 3.0


def test_a_real_nan_in_parquet_is_set_aside(tmp_path):
    frames = _frames([1.0, 3.0], [100, 2])
    table = pa.Table.from_pandas(frames["events"].drop(columns="quantity"), preserve_index=False)
    nan = pa.array([float("nan"), 3.0, 2.0], type=pa.float64())  # a stored NaN, not a null
    _write(tmp_path, frames, table.append_column("quantity", nan))
    tables, report = load_tables(DataConfig(dir=str(tmp_path)))
    assert report.set_aside["events: non-finite quantity"] == 1
    row = _row(build_features(tables, [T], plan_features(tables, T, CONFIG)))
    assert row["upload_quantity_7d"] == 3.0


def test_strict_mode_makes_non_finite_quantities_an_error(tmp_path):
    frames = _frames([1.0, 3.0], [100, 2])
    _write(tmp_path, frames)
    frames["events"].assign(quantity=["inf", "3", "2"]).to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(DataError, match="non-finite quantity.*data.strict=true"):
        load_tables(DataConfig(dir=str(tmp_path), strict=True))
