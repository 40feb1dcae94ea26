"""One export table mapped onto the contract (features.data.export): accounts and conversions derived from the events, the Sparkify example."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.config import DataConfig
from features.data.load import load_tables


SPARKIFY = Path(__file__).resolve().parents[3] / "examples" / "sparkify"


def _export(tmp_path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_json(tmp_path / "events.jsonl", orient="records", lines=True)
    return tmp_path


EXPORT = {"anonymous": "set_aside", "accounts": {"created_at": "registration", "created_at_unit": "ms",
                                                 "attributes": ["plan"]},
          "conversions": {"column": "level", "values": ["paid"]}}


COLUMNS = {"events": {"account_id": "userId", "event": "page", "timestamp": "ts", "timestamp_unit": "ms",
                      "user_id": None, "quantity": None}}


DAY_MS = 86_400_000


def test_accounts_and_conversions_derived_from_one_export(tmp_path):
    rows = [
        {"userId": "1", "page": "Home", "ts": 5 * DAY_MS, "registration": DAY_MS, "level": "free", "plan": None},
        {"userId": "1", "page": "Upgrade", "ts": 6 * DAY_MS, "registration": DAY_MS, "level": "paid", "plan": "x"},
        {"userId": "1", "page": "Home", "ts": 7 * DAY_MS, "registration": DAY_MS, "level": "paid", "plan": "y"},
        {"userId": "2", "page": "Home", "ts": 3 * DAY_MS, "registration": None, "level": "free", "plan": "z"},
        {"userId": "", "page": "Home", "ts": 3 * DAY_MS, "registration": None, "level": "free", "plan": None},
    ]
    config = DataConfig.from_mapping({"dir": str(_export(tmp_path, rows)), "export": EXPORT, "columns": COLUMNS})
    tables, report = load_tables(config)
    acc = tables.accounts.set_index("account_id")
    assert acc.loc["1", "plan"] == "x" and acc.loc["2", "plan"] == "z"  # first known value
    assert tables.created_us.tolist() == [DAY_MS * 1000, 3 * DAY_MS * 1000]  # registration, else first event
    assert tables.converted_us[0] == 6 * DAY_MS * 1000 and tables.converted_us[1] == np.iinfo(np.int64).max
    assert report.set_aside["events: no account id (anonymous)"] == 1
    assert len(tables.events) == 4


def test_conversion_by_event_name(tmp_path):
    rows = [{"userId": "1", "page": p, "ts": d * DAY_MS, "registration": DAY_MS, "level": "free", "plan": "x"}
            for p, d in (("Home", 2), ("Submit Upgrade", 4), ("Submit Upgrade", 9))]
    export = {**EXPORT, "conversions": {"event": "Submit Upgrade"}}
    config = DataConfig.from_mapping({"dir": str(_export(tmp_path, rows)), "export": export, "columns": COLUMNS})
    tables, _ = load_tables(config)
    assert tables.converted_us.tolist() == [4 * DAY_MS * 1000]


def test_sparkify_export_maps_onto_the_pipeline(tmp_path):
    from omegaconf import OmegaConf

    from app.preflight import compose_config
    from features.build import build_features
    from features.plan import plan_features
    from features.config import FeatureConfig

    cfg = compose_config("features", ["data=sparkify", "features=sparkify", f"data.dir={SPARKIFY}", "as_of=2018-11-20"])
    data = OmegaConf.to_container(cfg.data, resolve=True)
    tables, report = load_tables(DataConfig.from_mapping(data))
    assert tables.n_accounts == 97  # listeners (the README's count)
    assert report.set_aside["events: no account id (anonymous)"] == 286
    assert report.rows_read["events"] == 8056 - 286
    assert set(tables.fit_columns) == {"gender", "location", "userAgent"}
    converted = tables.converted_us[tables.converted_us != np.iinfo(np.int64).max]
    assert 7 <= len(converted) <= 97 - 82 + 7  # free listeners who upgrade + listeners paid from the start
    as_of = pd.Timestamp("2018-11-20")
    spec = plan_features(tables, as_of, FeatureConfig.from_mapping(OmegaConf.to_container(cfg.features)))
    frame = build_features(tables, [as_of], spec)
    assert len(frame) > 0 and "next_song_count_7d" in frame and "days_to_first_upgrade" in frame
    assert frame["events_count_all"].sum() > 0
    # strictly before the as-of: the export cut at the as-of gives the same features for the listeners
    # it still holds (a listener registered before the as-of whose first event is later is only in the full export)
    export = pd.read_json(SPARKIFY / "events.jsonl.gz", lines=True, dtype={"userId": str})
    export[export["ts"] < as_of.value // 1_000_000].to_json(tmp_path / "events.jsonl", orient="records", lines=True)
    cut, _ = load_tables(DataConfig.from_mapping({**data, "dir": str(tmp_path)}))
    cut_frame = build_features(cut, [as_of], spec)
    assert set(cut_frame["account_id"]) <= set(frame["account_id"])
    same = frame[frame["account_id"].isin(cut_frame["account_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(same.drop(columns=list(tables.fit_columns)),
                                  cut_frame.drop(columns=list(tables.fit_columns)))
