"""The design of a training run (train.design): a fold's model has only the columns a plan made when the
fold began would have had."""
from __future__ import annotations

from features.spec import Column, FeatureSpec
from train.design import known_at


def _spec(*names: str) -> FeatureSpec:
    return FeatureSpec(windows=(30,), columns=tuple(Column(n, "count", "usage", f"{n}: {{value}}") for n in names))


def test_known_at_keeps_the_specs_columns_the_earlier_plan_also_has_in_the_specs_order():
    spec = _spec("task_count_30d", "upload_count_30d", "events_count_30d")
    earlier = _spec("events_count_30d", "task_count_30d", "invite_count_30d")  # upload first seen later
    got = known_at(spec, earlier)
    assert got.names == ["task_count_30d", "events_count_30d"]
    assert got.windows == spec.windows and got.column("task_count_30d") == spec.column("task_count_30d")
    assert spec.names == ["task_count_30d", "upload_count_30d", "events_count_30d"]  # unchanged


def test_known_at_of_the_same_plan_is_the_spec():
    spec = _spec("a_count_30d", "b_count_30d")
    assert known_at(spec, spec) == spec
