"""The candidates of a run (train.candidates): model=auto's set with LightGBM sized to the data, or the configured
model with its baseline beside it."""
from __future__ import annotations

from train.candidates import FEW_CONVERTERS, lineup, sized_settings
from train.config import AutoConfig, ModelConfig


def _auto(**changes) -> ModelConfig:
    from dataclasses import asdict

    return ModelConfig.from_mapping({**asdict(AutoConfig()), **changes})


def test_auto_fits_every_candidate_and_blends_last():
    up = lineup(_auto(), "logistic", positives=100, calls=30)
    assert [c.name for c in up.candidates] == ["lightgbm", "lightgbm_sized", "logistic", "blend"]
    assert up.auto and up.prior == "blend" and up.calls == 30
    assert up.get("blend").parts == ("lightgbm", "logistic") and [c.name for c in up.base][-1] == "logistic"


def test_a_blend_alone_still_fits_its_parts_but_only_the_blend_may_be_chosen():
    up = lineup(_auto(candidates=["blend", "lightgbm_sized"], prior="blend"), None, positives=100)
    assert [c.name for c in up.candidates] == ["lightgbm", "lightgbm_sized", "logistic", "blend"]
    assert up.eligible == ("lightgbm_sized", "blend")


def test_lightgbm_is_sized_by_the_converters_it_learns_from():
    few = sized_settings({"params": {"num_leaves": 4, "min_child_samples": "auto"}}, FEW_CONVERTERS - 1)
    many = sized_settings({"params": {"num_leaves": 4, "min_child_samples": "auto"}}, FEW_CONVERTERS)
    assert few["params"]["num_leaves"] < 4 < many["params"]["num_leaves"]
    assert few["params"]["min_child_samples"] == "auto:100" and few["params"]["reg_lambda"] > 1


def test_a_forced_model_has_its_baseline_beside_it_but_never_chosen():
    up = lineup(ModelConfig("lightgbm", {"n_estimators": 10}), "logistic", positives=10)
    assert [c.name for c in up.candidates] == ["lightgbm", "logistic"] and up.eligible == ("lightgbm",)
    assert not up.auto and up.prior == "lightgbm" and up.get("lightgbm").settings == {"n_estimators": 10}
    assert [c.name for c in lineup(ModelConfig("logistic"), "logistic", 10).candidates] == ["logistic"]
