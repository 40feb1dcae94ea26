"""Planning the columns: only rows that can reach a feature choose them; identifiers are not features.

A row of account ``a`` at ``ts`` can reach a feature at some as-of ``s <= as_of_max`` only if
``ts < s`` and ``a`` is eligible at ``s`` (created before ``s``, not converted before ``s``). Rows
after an account's conversion therefore change neither the values nor the columns.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.plan import plan_features
from features.config import FeatureConfig
from features.errors import ConfigError
from features.data.load import load_frames
from features.spec import FeatureSpec

T = pd.Timestamp("2024-04-01 06:00").as_unit("us")
DAY = pd.Timedelta(days=1)
CONFIG = FeatureConfig(windows=(7, 30), max_event_types=2, key_events=("Cancelled", "e1"))
SNAPSHOTS = [T - 20 * DAY, T - 7 * DAY, T]


def _plan_and_build(world: dict, config: FeatureConfig = CONFIG, as_of=SNAPSHOTS):
    tables, _ = load_frames(world)
    spec = plan_features(tables, max(as_of), config)
    return spec, build_features(tables, as_of, spec)


def _stamp(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.astype({column: "datetime64[us]"})


# -- rows after a conversion -------------------------------------------------------------------


def _small_world() -> dict:
    """Four accounts; ``a`` converts on day 30 (before T), ``b`` after T, ``c`` and ``d`` never."""
    start = T - 60 * DAY
    accounts = _stamp(pd.DataFrame({"account_id": ["a", "b", "c", "d"], "created_at": [start] * 4,
                                    "industry": ["x", "y", "x", "z"]}), "created_at")
    rows = []
    for i, (account, event, n) in enumerate([("a", "e0", 5), ("b", "e0", 4), ("c", "e1", 3), ("d", "e1", 3),
                                             ("c", "e2", 2), ("a", "e3", 1)]):
        rows += [(account, event, start + (i + 2 * k + 1) * DAY, "u1", 1.0) for k in range(n)]
    events = _stamp(pd.DataFrame(rows, columns=["account_id", "event", "timestamp", "user_id", "quantity"]),
                    "timestamp")
    touches = _stamp(pd.DataFrame({"account_id": ["b", "c", "c"], "touch": ["mail", "mail", "webinar"],
                                   "timestamp": [start + 3 * DAY, start + 4 * DAY, start + 5 * DAY]}), "timestamp")
    conversions = _stamp(pd.DataFrame({"account_id": ["a", "b"], "converted_at": [start + 30 * DAY, T + 5 * DAY]}),
                         "converted_at")
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches}


def _after_conversion(world: dict, account: str = "a", at=None) -> dict:
    """Many rows of ``account`` after its conversion (before T): a new type, a flood of a rare one,
    quantities that vary, a new touch type, and an account created and converted at once."""
    out = {k: v.copy() for k, v in world.items()}
    at = at if at is not None else T - 20 * DAY + pd.Timedelta(hours=3)
    n = 40
    flood = pd.DataFrame({"account_id": account, "event": ["cancelled"] * n + ["e3"] * n + ["e2"] * n,
                          "timestamp": [at + pd.Timedelta(minutes=m) for m in range(3 * n)],
                          "user_id": [f"late{m % 7}" for m in range(3 * n)], "quantity": 7.0})
    out["events"] = _stamp(pd.concat([out["events"], flood], ignore_index=True), "timestamp")
    late_touch = pd.DataFrame({"account_id": account, "touch": "sales_call",
                               "timestamp": [at + pd.Timedelta(hours=h) for h in range(10)]})
    out["touches"] = _stamp(pd.concat([out["touches"], late_touch], ignore_index=True), "timestamp")
    # an account that converted the moment it was created is never eligible: its category is no column
    instant = T - 50 * DAY
    out["accounts"] = _stamp(pd.concat([out["accounts"], pd.DataFrame(
        {"account_id": ["z"], "created_at": [instant], "industry": ["never_eligible"]})], ignore_index=True),
        "created_at")
    out["conversions"] = _stamp(pd.concat([out["conversions"], pd.DataFrame(
        {"account_id": ["z"], "converted_at": [instant]})], ignore_index=True), "converted_at")
    out["events"] = _stamp(pd.concat([out["events"], pd.DataFrame(
        {"account_id": ["z"] * 30, "event": "cancelled", "timestamp": instant + DAY, "user_id": "z",
         "quantity": 3.0})], ignore_index=True), "timestamp")
    return out


def test_rows_after_a_conversion_change_neither_columns_nor_values():
    world = _small_world()
    spec, before = _plan_and_build(world)
    spec_after, after = _plan_and_build(_after_conversion(world))
    assert spec_after.to_dict() == spec.to_dict()
    pd.testing.assert_frame_equal(after, before)
    # what the spec is, from the reachable rows only
    assert spec.event_types == ("e0", "e1")  # e0: 9 rows, e1: 6 rows; e2 (2) and e3 (1) are cut
    assert spec.quantity_events == ()  # quantity is 1 on every reachable row
    assert spec.touch_types == ("mail", "webinar")
    assert spec.key_events == ("Cancelled", "e1")  # 'cancelled' never reaches a feature: kept as configured
    assert "never_eligible" not in spec.column("industry").categories


def test_the_same_rows_before_the_conversion_do_change_the_columns():
    """The test above has teeth: the same rows from an account that is still eligible count."""
    world = _small_world()
    spec, _ = _plan_and_build(world)
    changed, _ = _plan_and_build(_after_conversion(world, account="c"))
    assert changed.event_types == ("e2", "e3")  # 42 and 41 reachable rows now
    assert set(changed.quantity_events) == {"e2", "e3"}
    assert "sales_call" in changed.touch_types
    assert changed.key_events == ("cancelled", "e1")  # 'Cancelled' now resolves to the name seen
    assert changed.to_dict() != spec.to_dict()


def test_rows_after_the_newest_as_of_do_not_count_for_an_account_that_converts_later():
    world = _small_world()
    spec, before = _plan_and_build(world)
    # b converts after T: its rows between T and its conversion are after the newest as-of
    spec_after, after = _plan_and_build(_after_conversion(world, account="b", at=T + DAY))
    assert spec_after.to_dict() == spec.to_dict()
    pd.testing.assert_frame_equal(after, before)


def _random_world(rng: np.random.Generator, n_accounts: int, n_events: int) -> dict:
    start = T - 60 * DAY
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(n_accounts)],
        "created_at": start + pd.to_timedelta(rng.integers(0, 50 * 86400, n_accounts), unit="s"),
        "industry": rng.choice(["x", "y", "z"], n_accounts),
        "seats": rng.integers(1, 6, n_accounts).astype(float),
    })
    accounts = _stamp(accounts, "created_at")
    account = rng.integers(0, n_accounts, n_events)
    created = accounts["created_at"].to_numpy()[account]
    events = _stamp(pd.DataFrame({
        "account_id": accounts["account_id"].to_numpy()[account],
        "event": rng.choice(["e0", "e1", "e2", "e3"], n_events, p=[0.4, 0.3, 0.2, 0.1]),
        "timestamp": created + pd.to_timedelta(rng.integers(0, 70 * 86400, n_events), unit="s").to_numpy(),
        "user_id": [f"u{i}" for i in rng.integers(0, 6, n_events)],
        "quantity": rng.choice([1.0, 1.0, 2.0], n_events) if rng.random() < 0.5 else 1.0,
    }), "timestamp")
    touches = _stamp(pd.DataFrame({
        "account_id": rng.choice(accounts["account_id"], n_events // 4 + 1),
        "touch": rng.choice(["mail", "webinar", "ebook"], n_events // 4 + 1),
        "timestamp": T - pd.to_timedelta(rng.integers(1, 10 * 86400, n_events // 4 + 1), unit="s"),
    }), "timestamp")
    converting = rng.choice(n_accounts, max(1, n_accounts // 2), replace=False)
    converted_at = (accounts["created_at"].to_numpy()[converting]
                    + pd.to_timedelta(rng.integers(0, 60 * 86400, len(converting)), unit="s").to_numpy())
    conversions = _stamp(pd.DataFrame({"account_id": accounts["account_id"].to_numpy()[converting],
                                       "converted_at": converted_at}), "converted_at")
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches}


def _flood_after_conversions(world: dict, rng: np.random.Generator, n: int) -> dict:
    """Rows after the conversion of converted accounts: new types, floods of existing ones, odd quantities."""
    out = {k: v.copy() for k, v in world.items()}
    conv = world["conversions"]
    who = rng.integers(0, len(conv), n)
    after = (conv["converted_at"].to_numpy()[who]
             + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s").to_numpy())
    flood = pd.DataFrame({"account_id": conv["account_id"].to_numpy()[who],
                          "event": rng.choice(["e3", "e2", "churned", "Cancelled"], n),
                          "timestamp": after, "user_id": [f"late{i}" for i in rng.integers(0, 50, n)],
                          "quantity": rng.choice([1.0, 9.0], n)})
    out["events"] = _stamp(pd.concat([out["events"], flood], ignore_index=True), "timestamp")
    touch = pd.DataFrame({"account_id": flood["account_id"], "touch": rng.choice(["ebook", "sales_call"], n),
                          "timestamp": flood["timestamp"]})
    out["touches"] = _stamp(pd.concat([out["touches"], touch], ignore_index=True), "timestamp")
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_accounts=st.integers(2, 30), n_events=st.integers(1, 300),
       n_flood=st.integers(1, 400))
def test_property_rows_after_conversions_never_change_the_spec_or_the_features(seed, n_accounts, n_events,
                                                                             n_flood):
    rng = np.random.default_rng(seed)
    world = _random_world(rng, n_accounts, n_events)
    config = FeatureConfig(windows=(7, 30), max_event_types=2, key_events=("cancelled",),
                           plan_limits={"seats": {"used": "e2", "limit": "seats"}})
    spec, before = _plan_and_build(world, config)
    spec_after, after = _plan_and_build(_flood_after_conversions(world, rng, n_flood), config)
    assert spec_after.to_dict() == spec.to_dict()
    pd.testing.assert_frame_equal(after, before)


def test_unset_key_events_and_plan_limits_mean_none():
    spec, _ = _plan_and_build(_small_world(), FeatureConfig(windows=(7,), key_events=None, plan_limits=None))
    assert spec.key_events == () and spec.plan_limits == {}


# -- identifiers and excluded columns ------------------------------------------------------------


def _accounts_world(n: int = 30, **columns) -> dict:
    accounts = pd.DataFrame({"account_id": [f"acc{i}" for i in range(n)],
                             "created_at": [T - 40 * DAY] * n, **columns})
    events = pd.DataFrame({"account_id": ["acc0"], "event": ["task"], "timestamp": [T - DAY]})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": _stamp(accounts, "created_at"), "events": _stamp(events, "timestamp"),
            "conversions": conversions}


def test_identifier_like_text_and_numbers_are_dropped_and_recorded(caplog):
    n = 30
    world = _accounts_world(
        n,
        email=[f"person{i}@example.com" for i in range(n)],          # text, all distinct: an identifier
        company=[f"co{i}" for i in range(n - 2)] + [None, None],     # 28 distinct of 28 non-null: too
        industry=["a", "b", "c"] * (n // 3),                         # a category
        crm_id=np.arange(1000, 1000 + n),                            # an id-like name, all distinct numbers
        employees=np.arange(10, 10 + n),                             # all distinct but not an id name
        plan_key=np.arange(n) % 4,                                   # id-like name but repeats: kept
    )
    with caplog.at_level(logging.WARNING, logger="pql"):
        spec, frame = _plan_and_build(world, FeatureConfig(windows=(7,)), [T])
    assert spec.dropped_columns == ("email", "company", "crm_id")
    fit = [c.name for c in spec.columns if c.group == "fit"]
    assert fit == ["industry", "employees", "plan_key"]
    assert not {"email", "company", "crm_id"} & set(frame.columns)
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in ("email", "company", "crm_id"):
        assert f"'{name}'" in warned
    assert "features.id_like_share=null" in warned and "features.exclude_columns" in warned
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_id_like_share_null_keeps_them_and_few_values_are_never_identifiers():
    n = 30
    world = _accounts_world(n, email=[f"p{i}@x.com" for i in range(n)], crm_id=np.arange(n))
    spec, _ = _plan_and_build(world, FeatureConfig(windows=(7,), id_like_share=None), [T])
    assert spec.dropped_columns == () and spec.column("email").is_categorical
    assert spec.column("crm_id").kind == "numeric"
    few = _accounts_world(19, email=[f"p{i}@x.com" for i in range(19)], crm_id=np.arange(19))
    spec, _ = _plan_and_build(few, FeatureConfig(windows=(7,)), [T])
    assert spec.dropped_columns == ()  # 19 distinct values: too few to call it an identifier


def test_identifiers_are_judged_on_accounts_that_can_be_eligible():
    n = 30
    # 25 distinct teams in 30 accounts (83%: a category); 30 accounts created after T, each with a
    # team of its own, would make it 55 in 60 (92%: an identifier) if they counted
    world = _accounts_world(n, team=[f"t{i}" for i in range(25)] + ["t0"] * 5)
    later = _accounts_world(n, team=[f"new{i}" for i in range(n)])["accounts"].assign(
        account_id=[f"late{i}" for i in range(n)], created_at=T + DAY)
    world["accounts"] = _stamp(pd.concat([world["accounts"], later], ignore_index=True), "created_at")
    spec, _ = _plan_and_build(world, FeatureConfig(windows=(7,)), [T])
    assert spec.dropped_columns == () and len(spec.column("team").categories) == 25


def test_excluded_columns_are_dropped_and_an_unknown_one_is_a_warning(caplog):
    world = _accounts_world(30, industry=["a", "b", "c"] * 10, seats=np.arange(30) % 5)
    config = FeatureConfig(windows=(7,), exclude_columns=("industry", "no_such_column"))
    with caplog.at_level(logging.WARNING, logger="pql"):
        spec, frame = _plan_and_build(world, config, [T])
    assert spec.dropped_columns == ("industry",)
    assert "industry" not in spec.names and "industry" not in frame.columns and "seats" in spec.names
    assert any("no_such_column" in r.getMessage() and "exclude_columns" in r.getMessage() for r in caplog.records)


def test_a_plan_limit_on_a_dropped_column_is_a_clear_error():
    world = _accounts_world(30, seats=np.arange(30) % 5)
    config = FeatureConfig(windows=(7,), exclude_columns=("seats",),
                           plan_limits={"seats": {"used": "task", "limit": "seats"}})
    with pytest.raises(ConfigError, match="seats.*dropped"):
        _plan_and_build(world, config, [T])
