"""The config schema (app.schema): every group option composes with every command, and typed configs accept it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from app.paths import CONF_DIR
from app.preflight import compose_config
from features.config import DataConfig, FeatureConfig
from rules.language import RuleSet
from train.config import TrackingConfig
from train.settings import TrainSettings

CONF = Path(CONF_DIR)
COMMANDS = {"features": ["as_of=2024-06-03"], "train": [], "serve": []}


def _options(group: str) -> list[str]:
    """A group's options: its YAML files and its structured configs (the model options are structured)."""
    from hydra.core.config_store import ConfigStore

    from app.schema import register

    register()
    stored = {name.removesuffix(".yaml") for name in ConfigStore.instance().repo.get(group, {})}
    return sorted({p.stem for p in (CONF / group).glob("*.yaml")} | stored)


def _compose(command: str, overrides: list[str]):
    return compose_config(command, overrides)


def _groups(command: str) -> list[str]:
    cfg = OmegaConf.load(CONF / f"{command}.yaml")
    return [next(iter(d)) for d in cfg.defaults if isinstance(d, dict)]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_group_option_composes(command):
    for group in _groups(command):
        for option in _options(group):
            cfg = _compose(command, [*COMMANDS[command], f"{group}={option}"])
            plain = OmegaConf.to_container(cfg, resolve=True)
            assert plain[group] is not None
            if command == "train":
                TrainSettings.from_mapping(plain)
                TrackingConfig(**plain["tracking"])
            DataConfig.from_mapping(plain["data"])


def test_every_rule_file_parses():
    for option in _options("rules"):
        RuleSet.from_config(OmegaConf.to_container(_compose("train", [f"rules={option}"]).rules)["definitions"])


def test_feature_configs_are_typed_cleanly():
    for option in _options("features"):
        FeatureConfig.from_mapping(OmegaConf.to_container(_compose("train", [f"features={option}"]).features))


def test_job_names_are_the_commands():
    for command, overrides in COMMANDS.items():
        cfg = _compose(command, overrides)
        assert OmegaConf.select(cfg, "hydra.job.name", default=None) in (command, None)
        assert OmegaConf.load(CONF / f"{command}.yaml").hydra.job.name == command


def test_cfg_job_prints_the_composed_config():
    out = subprocess.run([sys.executable, "-m", "train", "--cfg", "job", "model=logistic"], capture_output=True,
                         text=True, check=True, timeout=120)
    assert "name: logistic" in out.stdout and "horizon_days: 30" in out.stdout


def test_features_needs_an_as_of():
    out = subprocess.run([sys.executable, "-m", "features"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "as_of" in out.stderr
