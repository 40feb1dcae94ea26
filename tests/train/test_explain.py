"""Reasons a sales rep reads (train.explain): the largest positive contributions, worded with their values;
reasons joined by Arrow are the strings a per-row ``"; ".join`` gives, row for row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import Column, FeatureSpec
from train.explain import phrase, reasons, reasons_text


SPEC = FeatureSpec(windows=(30,), columns=(
    Column("active_users_30d", "count", "usage", "{value} users active in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats used at {value} of the plan limit"),
    Column("days_to_first_api_call", "days", "usage", "first 'api call' {value} days after signup",
           missing="no 'api call' yet"),
    Column("industry", "category", "fit", "industry: {value}", ("fintech", "software"), missing="industry: unknown"),
))


def test_top_positive_contributions_in_order_with_values():
    X = pd.DataFrame({"active_users_30d": [14.0, 2.0], "seats_used_ratio": [0.9, 0.1],
                      "days_to_first_api_call": [3.0, np.nan],
                      "industry": pd.Categorical(["fintech", None], categories=["fintech", "software"])})
    contrib = pd.DataFrame({"active_users_30d": [0.8, -0.1], "seats_used_ratio": [0.3, -0.2],
                            "days_to_first_api_call": [-0.5, 0.4], "industry": [0.5, 0.1], "bias": [-3.0, -3.0]})
    out = reasons(contrib, X, SPEC, n=2)
    assert out[0] == "14 users active in the last 30 days; industry: fintech"
    assert out[1] == "no 'api call' yet; industry: unknown"  # only positive pushes, missing values worded


def test_no_positive_push_gives_no_reason():
    X = pd.DataFrame({"active_users_30d": [1.0], "seats_used_ratio": [0.0], "days_to_first_api_call": [1.0],
                      "industry": pd.Categorical(["software"], categories=["fintech", "software"])})
    contrib = pd.DataFrame({c: [-0.1] for c in X.columns} | {"bias": [-2.0]})
    assert reasons(contrib, X, SPEC) == [""]


ZERO_SPEC = FeatureSpec(windows=(90,), columns=(
    Column("cancelled_count_90d", "count", "usage", "'cancelled' {value} time{s} in the last 90 days",
           zero="no 'cancelled' in the last 90 days"),
    Column("legacy_count_90d", "count", "usage", "{value} 'legacy' in the last 90 days"),  # an old spec: no zero
    Column("days_since_last_event", "days", "usage", "last active {value} day{s} ago",
           missing="no product activity yet", zero="active in the last 24 hours"),
))


def test_a_zero_is_worded_as_none_and_one_as_singular():
    X = pd.DataFrame({"cancelled_count_90d": [0.0, 1.0, 3.0], "legacy_count_90d": [0.0, 0.0, 0.0],
                      "days_since_last_event": [0.0, 1.0, np.nan]})
    contrib = pd.DataFrame({"cancelled_count_90d": [0.5, 0.5, 0.5], "legacy_count_90d": [0.4, 0.4, 0.4],
                            "days_since_last_event": [0.3, 0.3, 0.3]})
    assert reasons(contrib, X, ZERO_SPEC) == [
        "no 'cancelled' in the last 90 days; 0 'legacy' in the last 90 days; active in the last 24 hours",
        "'cancelled' 1 time in the last 90 days; 0 'legacy' in the last 90 days; last active 1 day ago",
        "'cancelled' 3 times in the last 90 days; 0 'legacy' in the last 90 days; no product activity yet",
    ]


def test_must_have_rows_get_their_largest_contribution_even_when_negative():
    X = pd.DataFrame({"cancelled_count_90d": [0.0, 0.0, 2.0], "legacy_count_90d": [5.0, 5.0, 5.0],
                      "days_since_last_event": [4.0, 4.0, 4.0]})
    contrib = pd.DataFrame({"cancelled_count_90d": [-0.5, -0.5, 0.2], "legacy_count_90d": [-0.1, -0.1, -0.3],
                            "days_since_last_event": [-0.2, -0.2, 0.1], "bias": [1.0, 1.0, 1.0]})
    out = reasons(contrib, X, ZERO_SPEC, must_have=np.array([True, False, True]))
    assert out[0] == "5 'legacy' in the last 90 days"  # the largest (least negative), worded the same way
    assert out[1] == ""  # not a must-have: only positive contributions
    assert out[2] == "'cancelled' 2 times in the last 90 days; last active 4 days ago"  # positive ones only
    assert reasons(contrib, X, ZERO_SPEC) == ["", "", out[2]]


def test_only_positive_contributions_without_must_have():
    rng = np.random.default_rng(3)
    n = 500
    X = pd.DataFrame({c.name: rng.integers(0, 4, n).astype(float) for c in ZERO_SPEC.columns})
    contrib = pd.DataFrame(rng.normal(0, 1, (n, 3)), columns=X.columns)
    out = reasons(contrib, X, ZERO_SPEC, n=3)
    for i, text in enumerate(out):
        assert len([p for p in text.split("; ") if p]) == int((contrib.iloc[i] > 0).sum())
    must = reasons(contrib, X, ZERO_SPEC, n=3, must_have=np.ones(n, bool))
    assert all(must) and [m for m, o in zip(must, out) if o] == [o for o in out if o]


def test_a_dropped_identifier_never_appears_in_reasons():
    from features.build import build_features
    from features.plan import plan_features
    from features.config import FeatureConfig
    from features.data.load import load_frames

    t = pd.Timestamp("2024-03-01").as_unit("us")
    n = 40
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(n)], "created_at": t - pd.Timedelta(days=30),
                             "email": [f"person{i}@example.com" for i in range(n)],
                             "industry": ["fintech", "retail"] * (n // 2)}).astype({"created_at": "datetime64[us]"})
    events = pd.DataFrame({"account_id": accounts["account_id"], "event": "task",
                           "timestamp": t - pd.Timedelta(days=2)}).astype({"timestamp": "datetime64[us]"})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    tables, _ = load_frames({"accounts": accounts, "events": events, "conversions": conversions})
    spec = plan_features(tables, t, FeatureConfig(windows=(7,)))
    assert spec.dropped_columns == ("email",) and "email" not in spec.names
    X = build_features(tables, [t], spec)[spec.names]
    rng = np.random.default_rng(0)
    contrib = pd.DataFrame(rng.normal(0, 1, (n, len(spec.names))), columns=spec.names)
    contrib["email"] = 10.0  # even a contribution for it (a stray column) is never worded
    contrib["bias"] = -2.0
    for out in (reasons(contrib, X.assign(email=accounts["email"]), spec, n=5),
                reasons(contrib, X.assign(email=accounts["email"]), spec, n=5, must_have=np.ones(n, bool))):
        assert all(out) and not any("person" in r or "email" in r for r in out)


def test_planned_texts_read_like_a_person():
    from features.plan import plan_features
    from features.config import FeatureConfig
    from features.data.load import load_frames
    from train.explain import phrase

    t = pd.Timestamp("2024-03-01").as_unit("us")
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": t - pd.Timedelta(days=30), "seats": [3, 5]}
                            ).astype({"created_at": "datetime64[us]"})
    events = pd.DataFrame({"account_id": ["a", "b"], "event": ["Task Created", "Cancelled"],
                           "timestamp": t - pd.Timedelta(days=2), "user_id": ["u1", "u2"]}
                          ).astype({"timestamp": "datetime64[us]"})
    touches = pd.DataFrame({"account_id": ["a"], "touch": ["Webinar Attended"], "timestamp": [t - pd.Timedelta(days=1)]}
                           ).astype({"timestamp": "datetime64[us]"})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    tables, _ = load_frames({"accounts": accounts, "events": events, "conversions": conversions, "touches": touches})
    spec = plan_features(tables, t, FeatureConfig(windows=(7, 30), key_events=("Task Created",),
                                                  plan_limits={"seats": {"used": "active_users", "limit": "seats"}}))
    say = lambda name, value: phrase(spec.column(name), value)  # noqa: E731
    assert say("cancelled_count_30d", 0) == "no 'cancelled' in the last 30 days"
    assert say("cancelled_count_all", 0) == "no 'cancelled' ever"
    assert say("task_created_count_7d", 14) == "'task created' 14 times in the last 7 days"
    assert say("events_count_7d", 0) == "no activity in the last 7 days"
    assert say("events_count_30d", 1) == "1 product action in the last 30 days"
    assert say("touches_count_30d", 0) == "no marketing touch in the last 30 days"
    assert say("touch_webinar_attended_count_30d", 2) == "'webinar attended' 2 times in the last 30 days"
    assert say("active_users_30d", 0) == "no users active in the last 30 days"
    assert say("active_users_30d", 1) == "1 user active in the last 30 days"
    assert say("active_days_7d", 0) == "not active in the last 7 days"
    assert say("active_days_7d", 3) == "active on 3 of the last 7 days"
    assert say("event_types_7d", 2) == "2 different product actions in the last 7 days"
    assert say("days_since_last_event", 3) == "last active 3 days ago"
    assert say("days_since_last_event", 0) == "active in the last 24 hours"
    assert say("days_since_last_event", np.nan) == "no product activity yet"
    assert say("days_since_signup", 12.2) == "signed up 12 days ago"
    assert say("days_to_first_task_created", 2) == "first 'task created' 2 days after signup"
    assert say("days_to_first_task_created", np.nan) == "no 'task created' yet"
    assert say("seats_used", 0) == "no seats used"
    assert say("seats_used", 4) == "seats used: 4"
    assert say("seats_used_ratio", 0.8) == "seats: 80% of the plan limit used"
    assert say("events_trend_7d", 0.5) == "activity trend +50% (last 7 days vs the 7 before)"
    assert say("seats", 5) == "seats: 5"
    assert say("seats", np.nan) == "seats: unknown"


def test_fit_columns_are_worded_by_their_readable_name_even_with_braces():
    from features.plan import plan_features
    from features.config import FeatureConfig
    from features.data.load import load_frames
    from train.explain import phrase

    t = pd.Timestamp("2024-03-01").as_unit("us")
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": t - pd.Timedelta(days=30),
                             "funding_stage": ["seed", "series_a"], "size {band}": [1.0, 2.0]}
                            ).astype({"created_at": "datetime64[us]"})
    events = pd.DataFrame({"account_id": ["a"], "event": ["task"], "timestamp": [t - pd.Timedelta(days=2)]}
                          ).astype({"timestamp": "datetime64[us]"})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    tables, _ = load_frames({"accounts": accounts, "events": events, "conversions": conversions})
    spec = plan_features(tables, t, FeatureConfig(windows=(7,)))
    assert phrase(spec.column("funding_stage"), "seed") == "funding stage: seed"
    assert phrase(spec.column("size {band}"), 2.0) == "size {band}: 2"
    assert phrase(spec.column("size {band}"), np.nan) == "size {band}: unknown"


JOIN_SPEC = FeatureSpec(windows=(30,), columns=(
    Column("active_users_30d", "count", "usage", "{value} users active in the last 30 days",
           zero="no users active in the last 30 days"),
    Column("seats_used_ratio", "ratio", "plan", "seats used at {value} of the plan limit"),
    Column("blank", "count", "usage", "", missing=""),  # a column whose phrase is empty: left out like no reason
    Column("industry", "category", "fit", "industry: {value}", ("fintech", "software"), missing="industry: unknown"),
))


def _per_row(contrib: pd.DataFrame, X: pd.DataFrame, n: int, must_have: np.ndarray | None) -> list[str]:
    """The reference: each row's top-n contributions worded one by one and joined in Python."""
    names = [c for c in contrib.columns if c in set(JOIN_SPEC.names)]
    out = []
    for i in range(len(X)):
        values = contrib[names].iloc[i].to_numpy(dtype=float)
        order = sorted(range(len(names)), key=lambda j: -values[j])[:n]  # ties: the earlier column first
        keep = [j for rank, j in enumerate(order) if values[j] > 0 or (rank == 0 and must_have is not None
                                                                       and must_have[i])]
        out.append("; ".join(p for p in (phrase(JOIN_SPEC.column(names[j]), X[names[j]].iloc[i]) for j in keep) if p))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_arrow_join_equals_the_per_row_join(n):
    rng = np.random.default_rng(n)
    rows = 300
    X = pd.DataFrame({
        "active_users_30d": rng.choice([0.0, 1.0, 2.0, 1234.0, np.nan], rows),
        "seats_used_ratio": rng.uniform(size=rows).round(2),
        "blank": rng.poisson(1, rows).astype(float),
        "industry": pd.Categorical(rng.choice(["fintech", "software", None], rows), categories=["fintech", "software"]),
    })
    # distinct values per row (no ties), a third of rows with nothing positive
    contrib = pd.DataFrame(rng.normal(size=(rows, 4)) + np.arange(4) * 1e-9, columns=list(X.columns))
    contrib.loc[rng.uniform(size=rows) < 0.33] = -np.abs(contrib) - 0.01
    contrib["bias"] = -3.0
    must = rng.uniform(size=rows) < 0.5
    for must_have in (None, must):
        expected = _per_row(contrib, X, n, must_have)
        assert reasons(contrib, X, JOIN_SPEC, n=n, must_have=must_have) == expected
        assert "" in expected and any("; " in e for e in expected) == (n > 1)
        assert reasons_text(contrib, X, JOIN_SPEC, n=n, must_have=must_have).to_pylist() == expected


def test_rows_without_any_reason_are_empty_strings_not_dropped():
    X = pd.DataFrame({"active_users_30d": [1.0, 2.0, 3.0], "seats_used_ratio": [0.1, 0.2, 0.3], "blank": [1.0] * 3,
                      "industry": pd.Categorical([None] * 3, categories=["fintech", "software"])})
    contrib = pd.DataFrame({"active_users_30d": [-1.0, 0.5, -1.0], "seats_used_ratio": [-1.0, -1.0, -1.0],
                            "blank": [2.0, -1.0, -1.0], "industry": [-1.0, -1.0, -1.0]})
    # row 0: its only reason has an empty phrase; rows 0 and 2: nothing to say
    assert reasons(contrib, X, JOIN_SPEC) == ["", "2 users active in the last 30 days", ""]
