"""The weekly sign-up funnel, hand-computed: PQL within 7/30 days, days to PQL, PQL to customer, maturity
and coverage."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from rules.language import RuleSet
from train.funnel import cohort_funnel, funnel_of, signups_of, sources_of

T = pd.Timestamp
GRID = pd.date_range("2024-01-08", "2024-03-25", freq="7D")  # Mondays


def _signups() -> pd.DataFrame:
    return pd.DataFrame({"account_id": ["a", "b", "c", "d"],
                         "created_at": [T("2024-01-02 12:00"), T("2024-01-03"), T("2024-01-05"), T("2024-01-10")],
                         "converted_at": [T("2024-01-20"), pd.NaT, T("2024-03-30"), pd.NaT]})


def _source(flags: dict[str, dict[str, list[str]]], times=GRID) -> pd.DataFrame:
    """Every account at every snapshot, flagged where ``flags[definition][account]`` lists the date."""
    rows = pd.DataFrame([(a, t) for t in times for a in "abcd"], columns=["account_id", "as_of"])
    for name, by_account in flags.items():
        rows[name] = [str(t.date()) in by_account.get(a, []) for a, t in zip(rows["account_id"], rows["as_of"])]
    return rows


def test_pql_within_7_and_30_days_days_to_pql_and_customers():
    source = _source({"x": {"a": ["2024-01-08", "2024-01-15"], "b": ["2024-01-22"]},
                      "y": {"b": ["2024-02-12"]}})  # 40 days after b's sign-up: too late
    table = cohort_funnel(_signups(), [source], T("2024-03-12"), horizon_days=30).set_index("definition")
    assert set(table["cohort"]) == {T("2024-01-01")}  # the week of 2024-01-08 matures only on 2024-03-15
    x = table.loc["x"]
    assert x["accounts"] == 3 and x["pqls"] == 2
    assert x["pql_7d"] == pytest.approx(1 / 3) and x["pql_30d"] == pytest.approx(2 / 3)
    assert x["median_days_to_pql"] == pytest.approx((5.5 + 19) / 2)
    assert x["pql_to_customer"] == 0.5  # a converted 12 days after its first flag, b never
    assert x["customers"] == pytest.approx(1 / 3)  # c converted after 30 + 30 days
    y = table.loc["y"]
    assert y["pqls"] == 0 and y["pql_30d"] == 0 and np.isnan(y["median_days_to_pql"])


def test_a_definition_is_reported_only_where_its_snapshots_cover_the_first_30_days():
    early = _source({"x": {"a": ["2024-01-08"]}})
    late = _source({"tier": {"a": ["2024-01-29"]}}, times=GRID[GRID >= T("2024-01-29")])
    table = cohort_funnel(_signups(), [early, late], T("2024-06-01"), horizon_days=30)
    assert set(table["definition"]) == {"x"}
    assert set(table["cohort"]) == {T("2024-01-01"), T("2024-01-08")}


def test_nothing_matured_gives_an_empty_table():
    table = cohort_funnel(_signups(), [_source({"x": {}})], T("2024-02-01"), horizon_days=30)
    assert table.empty and "pql_30d" in table.columns


def _tables():
    created = pd.to_datetime(_signups()["created_at"]).to_numpy().astype("datetime64[us]").astype(np.int64)
    never = np.iinfo(np.int64).max
    converted = np.array([T("2024-01-20").value // 1000, never, T("2024-03-30").value // 1000, never])
    return SimpleNamespace(accounts=pd.DataFrame({"account_id": list("abcd")}), created_us=created,
                           converted_us=converted, data_end_us=T("2024-06-01").value // 1000)


def test_signups_of_the_tables():
    signups = signups_of(_tables())
    assert signups["converted_at"].isna().tolist() == [False, True, False, True]
    assert signups["created_at"].iloc[0] == T("2024-01-02 12:00")


def test_hand_rules_use_every_snapshot_when_the_feature_frame_is_there():
    rules = RuleSet.from_config({"busy": {"expression": "tasks >= 3"}, "fit": {"expression": "seats >= 10"}})
    frame = _source({})
    frame["tasks"] = np.where((frame["account_id"] == "a") & (frame["as_of"] == T("2024-01-08")), 5, 0)
    frame["seats"] = 1
    late = frame[frame["as_of"] >= T("2024-02-05")]  # the backtest covers the newest snapshots only
    flags = rules.evaluate(late)
    test = pd.concat([late[["account_id", "as_of"]], flags], axis=1).assign(
        pql_tier=pd.array([None] * len(late), dtype="Int64"), label=0, log_odds=0.0)
    without = funnel_of(SimpleNamespace(test=test), _tables(), 30)
    assert without.empty or "busy" not in set(without["definition"])  # the backtest alone cannot see January
    result = SimpleNamespace(test=test, frame=frame, scorer=SimpleNamespace(rules=rules))
    assert [list(s.columns[2:]) for s in sources_of(result)] == [["model tier 1"], ["busy", "fit", "any rule"]]
    table = funnel_of(result, _tables(), 30)
    first = table[table["cohort"] == T("2024-01-01")].set_index("definition")
    assert first.loc["busy", "pql_7d"] == pytest.approx(1 / 3) and first.loc["fit", "pqls"] == 0
    assert "model tier 1" not in set(table["definition"])  # tier 1 exists on the backtest snapshots only
