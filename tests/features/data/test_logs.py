"""Reading the event and touch logs (features.data.logs): non-finite quantities are set aside with a count, or an
error in strict mode; the rows kept sum as if the bad one had never been there."""
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


def _folder(tmp_path, make_frames) -> pd.DataFrame:
    """Accounts a and b and no conversions in ``tmp_path``; returns the events to write: an old row of a (the
    one made bad), a recent one, and one of b."""
    frames = make_frames()
    frames["accounts"].to_parquet(tmp_path / "accounts.parquet")
    frames["conversions"].to_parquet(tmp_path / "conversions.parquet")
    days = pd.to_timedelta([100, 2, 1], unit="D")
    return pd.DataFrame({"account_id": ["a", "a", "b"], "event": "upload", "timestamp": (T - days).astype("datetime64[us]"),
                         "quantity": [1.0, 3.0, 2.0]})


def _quantities(tables) -> pd.Series:
    spec = plan_features(tables, T, FeatureConfig(windows=(7, 30)))
    return build_features(tables, [T], spec).set_index("account_id").loc["a"]


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_quantities_are_set_aside_and_counted(tmp_path, make_frames, bad):
    events = _folder(tmp_path, make_frames)
    events.assign(quantity=[bad, "3", "2"]).to_csv(tmp_path / "events.csv", index=False)
    tables, report = load_tables(DataConfig(dir=str(tmp_path)))
    assert report.set_aside["events: non-finite quantity"] == 1
    assert any("non-finite quantity 1" in line for line in report.lines())
    row = _quantities(tables)
    assert row["upload_quantity_7d"] == 3.0 and row["upload_quantity_all"] == 3.0


def test_a_real_nan_in_parquet_is_set_aside(tmp_path, make_frames):
    events = _folder(tmp_path, make_frames)
    table = pa.Table.from_pandas(events.drop(columns="quantity"), preserve_index=False)
    nan = pa.array([float("nan"), 3.0, 2.0], type=pa.float64())  # a stored NaN, not a null
    pq.write_table(table.append_column("quantity", nan), tmp_path / "events.parquet")
    tables, report = load_tables(DataConfig(dir=str(tmp_path)))
    assert report.set_aside["events: non-finite quantity"] == 1
    assert _quantities(tables)["upload_quantity_all"] == 3.0


def test_strict_mode_makes_non_finite_quantities_an_error(tmp_path, make_frames):
    events = _folder(tmp_path, make_frames)
    events.assign(quantity=["inf", "3", "2"]).to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(DataError, match="non-finite quantity.*data.strict=true"):
        load_tables(DataConfig(dir=str(tmp_path), strict=True))
