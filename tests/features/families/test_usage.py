"""The usage family (features.families.usage): which event types get columns, which get quantity columns,
and the columns in the spec's order with their wording."""
from __future__ import annotations

import logging

import numpy as np

from features.config import FeatureConfig
from features.families.usage import choose_events, choose_quantity, columns
from features.tables import EventLog

SEEN = ["Task Created", "invite", "upload", "comment"]  # most frequent first


def test_the_most_frequent_types_up_to_the_limit():
    assert choose_events(SEEN, FeatureConfig(max_event_types=2)) == ["Task Created", "invite"]
    assert choose_events(SEEN[:1], FeatureConfig(max_event_types=5)) == ["Task Created"]


def test_configured_types_match_raw_or_snake_case_names_and_unseen_ones_are_kept_with_a_warning(caplog):
    config = FeatureConfig(event_types=("task_created", "upload", "uplaod"))
    with caplog.at_level(logging.WARNING, logger="pql"):
        assert choose_events(SEEN, config) == ["Task Created", "upload", "uplaod"]
    assert "'uplaod' does not occur before the as-of" in caplog.text and "upload" in caplog.text


def test_quantity_columns_only_for_types_whose_quantity_varies():
    log = EventLog.empty(("Task Created", "invite", "upload"))
    varied = np.array([0, 3, 7])  # rows per kind code whose quantity is not 1
    assert choose_quantity(log, ["task_created", "invite", "upload"], varied) == ["invite", "upload"]
    assert choose_quantity(log, ["comment"], varied) == []  # never occurs: no column


def test_columns_in_order_counts_then_quantities_then_all_events():
    cols = columns(["Task Created", "upload"], ["upload"], [7, 30])
    assert [c.name for c in cols] == [
        "task_created_count_7d", "task_created_count_30d", "task_created_count_all",
        "upload_count_7d", "upload_count_30d", "upload_count_all",
        "upload_quantity_7d", "upload_quantity_30d", "upload_quantity_all",
        "events_count_7d", "events_count_30d", "events_count_all"]
    by_name = {c.name: c for c in cols}
    assert {c.group for c in cols} == {"usage"} and by_name["upload_quantity_7d"].kind == "quantity"
    assert by_name["task_created_count_7d"].text == "'Task Created' {value} time{s} in the last 7 days"  # the data's casing
    assert by_name["task_created_count_all"].zero == "no 'Task Created' ever"
    assert by_name["events_count_all"].text == "{value} product action{s} since signup"


def test_an_event_name_with_braces_cannot_break_a_reason():
    (col, *_) = columns(["{oops}"], [], [7])
    assert "{oops}" not in col.text and col.text.format(value=2, s="s").startswith("'")
