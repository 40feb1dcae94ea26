"""Fit attributes as they were: the history joined as of each snapshot, by the fit family and the plan limits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.asof import latest_rows, numbers_at, reachable_values
from features.build import build_features
from features.config import FeatureConfig
from features.data.load import load_frames
from features.errors import DataError
from features.plan import plan_features
from features.windows import to_us

DAYS = ["2024-01-03", "2024-01-10", "2024-01-20", "2024-02-10"]


def _world(history: dict, accounts: dict | None = None, conversions: dict | None = None) -> dict:
    accounts = accounts or {"account_id": ["a", "b"], "created_at": ["2024-01-01", "2024-01-01"],
                            "employees": [80, 12], "seats": [10.0, 3.0]}
    events = {"account_id": ["a", "b"] * 20, "event": ["task"] * 40,
              "timestamp": list(pd.date_range("2024-01-01 12:00", periods=40, freq="D").repeat(1))}
    frames = {"accounts": pd.DataFrame(accounts).astype({"created_at": "datetime64[us]"}),
              "events": pd.DataFrame(events).astype({"timestamp": "datetime64[us]"}),
              "conversions": pd.DataFrame(conversions or {"account_id": pd.Series([], dtype=str),
                                                          "converted_at": pd.Series([], dtype="datetime64[us]")}),
              "account_attributes": pd.DataFrame(history)}
    return frames


def _build(frames, plan_at="2024-02-10", config=FeatureConfig(), days=DAYS):
    tables, _ = load_frames(frames)
    spec = plan_features(tables, plan_at, config)
    return spec, build_features(tables, days, spec).set_index(["account_id", "as_of"])


HISTORY = {"account_id": ["a", "a", "a", "b"], "attribute": ["employees", "employees", "plan", "plan"],
           "value": ["20", "50", "pro", "free"], "valid_from": ["2024-01-05", "2024-01-10", "2024-01-05", "2024-01-15"]}


def test_each_snapshot_reads_the_latest_value_before_it_else_the_accounts_column_else_missing():
    _, frame = _build(_world(HISTORY))
    got = {(a, f"{t:%m-%d}"): (frame.loc[(a, t), "employees"], frame.loc[(a, t), "plan"]) for a, t in frame.index}
    assert got[("a", "01-03")][0] == 80 and pd.isna(got[("a", "01-03")][1])  # before the first row: accounts, missing
    assert got[("a", "01-10")] == (20.0, "pro")  # the row valid from 01-10 itself is not before 01-10
    assert got[("a", "01-20")] == (50.0, "pro") and got[("a", "02-10")] == (50.0, "pro")
    assert got[("b", "01-10")][0] == 12 and pd.isna(got[("b", "01-10")][1])
    assert got[("b", "01-20")] == (12.0, "free")


def test_a_missing_value_in_the_history_is_missing_from_then_on():
    history = {**HISTORY, "value": ["20", None, "pro", "free"]}
    _, frame = _build(_world(history))
    assert frame.loc[("a", pd.Timestamp("2024-01-10")), "employees"] == 20
    assert pd.isna(frame.loc[("a", pd.Timestamp("2024-01-20")), "employees"])


def test_planning_sees_only_values_that_can_reach_a_feature():
    # b's "enterprise" comes after its conversion, a's "team" after the plan's as-of: neither is a category
    history = {"account_id": ["a", "a", "b", "b"], "attribute": ["plan"] * 4, "value": ["pro", "team", "free", "enterprise"],
               "valid_from": ["2024-01-05", "2024-02-20", "2024-01-02", "2024-01-25"]}
    spec, _ = _build(_world(history, conversions={"account_id": ["b"], "converted_at": ["2024-01-20"]}))
    plan = next(c for c in spec.columns if c.name == "plan")
    assert plan.kind == "category" and set(plan.categories) == {"pro", "free"}
    tables, _ = load_frames(_world(history, conversions={"account_id": ["b"], "converted_at": ["2024-01-20"]}))
    values, owners = reachable_values(tables, "plan", to_us("2024-02-10"))
    assert sorted(values.dropna()) == ["free", "pro"] and len(values) == len(owners)


def test_an_attribute_only_in_the_history_is_typed_by_its_values():
    history = {"account_id": ["a", "b", "a"], "attribute": ["arr", "arr", "tier"], "value": ["1200", "80.5", "7"],
               "valid_from": ["2024-01-02", "2024-01-02", "2024-01-02"]}
    spec, frame = _build(_world(history))
    kinds = {c.name: c.kind for c in spec.columns if c.group == "fit"}
    assert kinds == {"employees": "numeric", "seats": "numeric", "arr": "numeric", "tier": "numeric"}
    assert frame.loc[("b", pd.Timestamp("2024-01-10")), "arr"] == 80.5


def test_an_attribute_whose_history_starts_after_the_plan_has_no_column_yet():
    history = {"account_id": ["a"], "attribute": ["funding"], "value": ["seed"], "valid_from": ["2024-03-01"]}
    spec, _ = _build(_world(history))
    assert "funding" not in spec.names


def test_a_text_value_a_feature_would_use_in_a_numeric_attribute_is_an_error_a_later_one_is_not():
    history = {"account_id": ["a", "a", "b"], "attribute": ["arr"] * 3, "value": ["10", "lots", "12"],
               "valid_from": ["2024-01-02", "2024-02-01", "2024-01-02"]}
    spec, frame = _build(_world(history), plan_at="2024-01-20", days=DAYS[:3])
    assert frame["arr"].tolist() == [10.0, 12.0, 10.0, 12.0, 10.0, 12.0]  # "lots" comes after the last as-of
    tables, _ = load_frames(_world(history))
    with pytest.raises(DataError, match="table 'account_attributes', column 'value': 1 values of attribute 'arr'"):
        build_features(tables, DAYS, spec)


def test_plan_limits_read_the_cap_as_it_was():
    history = {"account_id": ["a", "a"], "attribute": ["seats", "seats"], "value": ["2", "40"],
               "valid_from": ["2024-01-05", "2024-01-15"]}
    config = FeatureConfig(plan_limits={"tasks": {"used": "task", "limit": "seats"}})
    _, frame = _build(_world(history), config=config)
    a = frame.loc["a"]
    ratio = (a["tasks_used"] / a["tasks_used_ratio"]).round(6)
    assert ratio.tolist() == [10.0, 2.0, 40.0, 40.0]  # accounts column before the history, then 2, then 40


def test_latest_rows_and_numbers_at_for_one_instant():
    tables, _ = load_frames(_world(HISTORY))
    accounts = np.array([0, 1])
    assert numbers_at(tables, "employees", accounts, to_us("2024-01-06")).tolist() == [20.0, 12.0]
    assert numbers_at(tables, "seats", accounts, to_us("2024-01-06")).tolist() == [10.0, 3.0]
    rows = latest_rows(tables.attributes, "plan", accounts, to_us("2024-01-16"))
    assert [tables.attributes.texts[tables.attributes.value[r]] for r in rows] == ["pro", "free"]
    assert latest_rows(tables.attributes, "nothing", accounts, 0).tolist() == [-1, -1]


def test_queries_in_time_order_and_shuffled_find_the_same_rows():
    """Queries in time order (a feature table's rows) are ranked by one pass, others by a sort: same rows."""
    tables, _ = load_frames(_world(HISTORY))
    instants = np.array([to_us(d) for d in ("2024-01-02", "2024-01-06", "2024-01-16", "2024-02-20")])
    t_us, accounts = np.repeat(instants, 2), np.tile([0, 1], 4)
    shuffle = np.array([5, 0, 7, 2, 1, 6, 3, 4])
    for name in ("plan", "employees", "seats"):
        ordered = latest_rows(tables.attributes, name, accounts, t_us)
        assert latest_rows(tables.attributes, name, accounts[shuffle], t_us[shuffle]).tolist() == \
            ordered[shuffle].tolist()
        for i, (account, t) in enumerate(zip(accounts, t_us)):
            assert latest_rows(tables.attributes, name, np.array([account]), int(t)).tolist() == [ordered[i]]


def test_histories_of_parts_of_the_accounts_merge_into_the_whole_ones():
    from features.asof import merged_history

    accounts = {"account_id": ["a", "b", "c"], "created_at": ["2024-01-01"] * 3, "employees": [80, 12, 3],
                "seats": [1.0, 2.0, 3.0]}
    history = {"account_id": ["c", "a", "b", "c"], "attribute": ["plan", "employees", "plan", "employees"],
               "value": ["pro", "20", "free", None], "valid_from": ["2024-01-05", "2024-01-10", "2024-01-05", "2024-01-02"]}
    whole, _ = load_frames(_world(history, accounts))
    frames = _world(history, accounts)
    parts = []
    for ids in (["c", "a"], ["b"]):  # a Spark bucket each, accounts numbered within it
        part = {k: (f[f["account_id"].isin(ids)] if k != "conversions" else f) for k, f in frames.items()}
        parts.append(load_frames(part)[0])
    order = np.array([0, 2, 1])  # concatenated: a, c, b; sorted by id: a (0), b (2), c (1)
    merged = merged_history([p.attributes for p in parts], [p.n_accounts for p in parts], order)
    h = whole.attributes
    assert merged.names == h.names
    for field in ("attr", "account", "valid_us"):
        assert getattr(merged, field).tolist() == getattr(h, field).tolist()
    as_text = lambda x: [None if v < 0 else x.texts[v] for v in x.value]  # noqa: E731
    assert as_text(merged) == as_text(h)
    assert merged_history([None, None], [1, 1], np.array([0, 1])) is None
