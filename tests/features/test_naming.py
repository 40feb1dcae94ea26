"""Feature names are unique by construction, readable in rules (ASCII snake_case), and stable."""
from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from features import naming as nm
from features.build import build_features
from features.plan import plan_features
from features.config import FeatureConfig
from features.errors import DataError
from features.data.load import load_frames
from rules.language import RuleSet

T = pd.Timestamp("2024-03-01").as_unit("us")
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # what rules.py accepts as a feature reference
LONG_A = "Opened the quarterly revenue dashboard for the enterprise workspace, variant A"
LONG_B = "Opened the quarterly revenue dashboard for the enterprise workspace, variant B"


def ts(text):
    return pd.Timestamp(text).as_unit("us")


def _world(event_names, touch_names=()):
    accounts = pd.DataFrame({"account_id": ["a", "b"], "created_at": [ts("2024-01-01")] * 2, "seats": [3, 5]})
    rows = [(acc, name, ts("2024-02-20") + pd.Timedelta(hours=i))
            for i, name in enumerate(event_names) for acc in ("a", "b")]
    events = pd.DataFrame(rows, columns=["account_id", "event", "timestamp"]).astype({"timestamp": "datetime64[us]"})
    events["quantity"] = [float(i % 3 + 1) for i in range(len(events))]
    touches = None
    if touch_names:
        touches = pd.DataFrame([("a", name, ts("2024-02-21")) for name in touch_names],
                               columns=["account_id", "touch", "timestamp"]).astype({"timestamp": "datetime64[us]"})
    conversions = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                                "converted_at": pd.Series([], dtype="datetime64[us]")})
    return {"accounts": accounts, "events": events, "conversions": conversions, "touches": touches}


def _build(event_names, touch_names=(), key_events=()):
    tables, _ = load_frames(_world(event_names, touch_names))
    spec = plan_features(tables, T, FeatureConfig(windows=(7, 30), key_events=tuple(key_events)))
    frame = build_features(tables, [T], spec)
    names = list(frame.columns)
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    return spec, frame


CASES = {
    "an event named like the total": ["events", "task"],
    "an event named like the touches total": ["touches", "task"],
    "slug clash beside a suffixed name": ["Task Created", "task_created_2", "task created", "TaskCreated"],
    "an event named like a touch column": ["touch demo", "touch_demo", "task"],
    "non-Latin names": ["タスク作成", "プロジェクト作成", "Создать задачу", "Отчет PDF", "Créer un projet"],
    "long names": [LONG_A, LONG_B],
    "names that slug to nothing": ["!!!", "???", "---"],
}


@pytest.mark.parametrize("events", list(CASES.values()), ids=list(CASES))
def test_colliding_event_names_build_with_unique_columns(events):
    spec, frame = _build(events, touch_names=["demo", "Webinar"], key_events=events[:2])
    generated = [c.name for c in spec.columns if c.group != "fit"]
    assert all(RULE_NAME.match(n) for n in generated), [n for n in generated if not RULE_NAME.match(n)]
    assert len(set(nm.unique_slugs(events))) == len(events)


def test_the_totals_keep_their_names_and_the_event_moves_aside():
    _, frame = _build(["events", "task"])
    row = frame.set_index("account_id").loc["a"]
    assert row["events_count_30d"] == 2 and row["e_events_count_30d"] == 1


def test_a_touch_and_an_event_named_alike_stay_apart():
    _, frame = _build(["touch_demo", "task"], touch_names=["demo"])
    row = frame.set_index("account_id").loc["a"]
    assert row["touch_demo_count_30d"] == 1 and row["e_touch_demo_count_30d"] == 1


def test_non_latin_names_stay_distinct_and_ascii():
    names = ["タスク作成", "プロジェクト作成", "Создать задачу", "Удалить задачу"]
    slugs = [nm.slug(n) for n in names]
    assert len(set(slugs)) == 4 and all(s.startswith("ev_") and len(s) == 11 for s in slugs)
    assert nm.slug("Créer") == "creer" and nm.slug("Straße") == "strasse"


def test_long_names_are_cut_with_a_stable_suffix():
    a, b = nm.slug(LONG_A), nm.slug(LONG_B)
    assert a != b and len(a) <= nm.MAX_SLUG and len(b) <= nm.MAX_SLUG
    assert a.startswith("opened_the_quarterly") and re.search(r"_[0-9a-f]{8}$", a)


def test_slugs_are_idempotent():
    for names in CASES.values():
        for name in names:
            assert nm.slug(nm.slug(name)) == nm.slug(name)


def test_names_are_the_same_in_another_process():
    names = [n for group in CASES.values() for n in group]
    code = ("import json, sys; from features import naming as nm; "
            "print(json.dumps(nm.unique_slugs(json.loads(sys.stdin.read()))))")
    import json

    runs = {subprocess.run([sys.executable, "-c", code], input=json.dumps(names), capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (1, 2)}
    assert runs == {json.dumps(nm.unique_slugs(names)) + "\n"}


def test_rules_can_reference_renamed_and_non_latin_features():
    spec, frame = _build(["events", "タスク作成"])
    hashed = nm.count_name(nm.slug("タスク作成"), 30)
    rules = RuleSet.from_config({"busy": {"description": "d", "expression": f"e_events_count_30d >= 1 and {hashed} >= 1"}})
    rules.validate(spec.names)
    assert rules.evaluate(frame)["rule_busy"].all()


@pytest.mark.parametrize("column", ["as_of", "label"])
def test_a_fit_column_named_like_an_output_column_is_an_error(column):
    world = _world(["task"])
    world["accounts"][column] = [1.0, 2.0]
    tables, _ = load_frames(world)
    spec = plan_features(tables, T, FeatureConfig(windows=(7,)))
    with pytest.raises(DataError, match=f"column '{column}': has the name of a column the pipeline writes"):
        build_features(tables, [T], spec)


def test_reasons_name_a_non_latin_event_by_its_own_name(make_frames):
    import pandas as pd

    from features.plan import plan_features
    from features.config import FeatureConfig
    from features.data.load import load_frames

    frames = make_frames()
    frames["events"] = pd.DataFrame({"account_id": ["a"], "event": ["タスク作成"], "timestamp": [pd.Timestamp("2024-01-10")],
                                     "user_id": ["u1"], "quantity": [1.0]})
    tables, _ = load_frames(frames)
    spec = plan_features(tables, "2024-02-01", FeatureConfig())
    column = next(c for c in spec.columns if c.name.endswith("_count_7d") and c.name.startswith("ev_"))
    assert "タスク作成" in column.text and "タスク作成" in column.zero


def test_display_names_keep_the_datas_casing_or_take_the_users_label():
    assert nm.display_name("W_Completeren aanvraag complete") == "W_Completeren aanvraag complete"
    assert nm.display_name("  Task   Created ") == "Task Created"
    assert nm.display_name("landing_page_id") == "landing page id"  # a snake_case column reads with spaces
    labels = {"w_completeren_aanvraag_start": "application form started", "Amount Req": "amount requested"}
    assert nm.display_name("W_Completeren aanvraag start", labels) == "application form started"  # by snake_case
    assert nm.display_name("amount_req", labels) == "amount requested"
    assert nm.display_name("A_Declined", labels) == "A_Declined"
    assert nm.unknown_labels(labels, ["W_Completeren aanvraag start", "amount_req"]) == []
    assert nm.unknown_labels({"amount_rq": "x"}, ["amount_req"]) == ["amount_rq"]


def test_window_families_group_a_count_over_its_windows():
    assert nm.window_family("w_completeren_aanvraag_complete_count_90d") == ("w_completeren_aanvraag_complete_count", 90)
    assert nm.window_family("events_count_all") == ("events_count", None)
    assert nm.window_family("touch_webinar_count_7d") == ("touch_webinar_count", 7)
    assert nm.window_family("api_call_quantity_30d") == ("api_call_quantity", 30)
    assert nm.window_family("active_days_7d") == ("active_days", 7)
    assert [nm.window_family(n) for n in ("days_since_signup", "events_trend_7d", "seats_used", "industry")] == [None] * 4
