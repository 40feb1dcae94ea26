"""The commands' config schemas, registered in Hydra's ConfigStore and made from the typed dataclasses.

Every config group's keys, types and defaults are written once, in its room's dataclass
(``features.config``, ``train.config``, ``engines.settings``, ``serve.monitor``, ``serve.alerts``,
``rules.files``). This module
turns each into an OmegaConf-checkable schema (:func:`schema_of`: tuples become lists, unions OmegaConf
cannot check become ``Any``) and registers, per command, a primary schema that holds every group
(``train_schema``, ``serve_schema``, ``features_schema``, ``realized_schema``; ``conf/<command>.yaml`` lists it
first in its defaults; the model options are structured configs themselves: ``model=lightgbm``,
``model=logistic``). Hydra itself then rejects an unknown key or a value of the wrong type while it
composes, and fills every default: the YAML files only choose and change values.

>>> register()
>>> from hydra.core.config_store import ConfigStore
>>> sorted(ConfigStore.instance().list("model"))
['auto.yaml', 'lightgbm.yaml', 'logistic.yaml']
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Dict, List, Optional, Union

from omegaconf import MISSING

# groups a data config (``data=mine``, ``# @package _global_``) may also set for itself: commands that do not use
# them accept and ignore them (serve and realized take capacity and horizon from the model they load)
CARRIED = ("features", "snapshots", "label", "backtest", "rules", "model", "calibration", "capacity", "promotion",
           "learned", "tiers", "monitoring", "alerts", "engine", "tracking")
COMMAND_GROUPS = {
    "train": ("data", "features", "snapshots", "label", "backtest", "rules", "model", "calibration", "capacity",
              "promotion", "learned", "tiers", "tracking", "engine"),
    "serve": ("data", "tracking", "monitoring", "alerts", "engine"),
    "features": ("data", "features", "engine"),
    "realized": ("data", "tracking"),
}


def _schema_type(hint: Any) -> Any:
    """The OmegaConf-supported annotation for a dataclass field's type (tuples become lists; anything
    OmegaConf cannot check becomes Any)."""
    if hint in (int, float, bool, str) or hint is Any:
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = _schema_type(rest[0])
            return Any if inner is Any else Optional[inner]
        return Any
    if origin is tuple:
        return List[_schema_type(args[0])] if len(args) == 2 and args[1] is Ellipsis else List[Any]
    if origin is list:
        return List[_schema_type(args[0])] if args else List[Any]
    if origin is dict:
        return Dict[str, _schema_type(args[1])] if len(args) == 2 and args[0] is str else Dict[str, Any]
    return Any


def _plain_default(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain_default(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_default(v) for k, v in value.items()}
    return value


def _field_default(f: dataclasses.Field) -> Any:
    """A mutable-safe default for the schema's copy of field ``f``."""
    if f.default is not dataclasses.MISSING:
        value = f.default
        if isinstance(value, (tuple, list, dict)):
            return dataclasses.field(default_factory=functools.partial(_plain_default, value))
        return dataclasses.field(default=value)
    if f.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=lambda make=f.default_factory: _plain_default(make()))
    return dataclasses.field(default=None)


def schema_of(cls: type, nested: dict[str, type] | None = None, optional: tuple[str, ...] = (),
              extra: tuple[tuple[str, Any, Any], ...] = ()) -> type:
    """A mutable, OmegaConf-checkable dataclass with the fields of dataclass ``cls``: ``nested`` gives
    fields a schema of their own, ``optional`` names fields that may also be null in the YAML, ``extra`` adds
    ``(name, type, default)`` fields."""
    nested = dict(nested or {})
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if f.name not in nested and dataclasses.is_dataclass(hints[f.name]):
            nested[f.name] = schema_of(hints[f.name])  # a group inside a group (model=auto's lightgbm settings)
        kind = nested.get(f.name) or _schema_type(hints[f.name])
        default = dataclasses.field(default_factory=nested[f.name]) if f.name in nested else _field_default(f)
        if (f.name in optional or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)) \
                and kind is not Any:
            kind = Optional[kind]
        specs.append((f.name, kind, default))
    for name, kind, value in extra:
        factory = functools.partial(_plain_default, value)
        specs.append((name, kind, dataclasses.field(default_factory=factory) if isinstance(value, (dict, list))
                      else dataclasses.field(default=value)))
    return dataclasses.make_dataclass(cls.__name__, specs)


@functools.lru_cache(maxsize=1)
def group_schemas() -> dict[str, type]:
    """The schema of every config group, by group name (``model`` is Any here: each model option brings its own)."""
    from demo import DemoConfig
    from engines.settings import EngineConfig
    from features.config import DataConfig, FeatureConfig, LabelConfig, SnapshotConfig
    from rules.files import RulesConfig
    from serve.alerts import AlertsConfig
    from serve.monitor import MonitoringConfig
    from train.config import (BacktestConfig, CalibrationConfig, CapacityConfig, LearnedConfig, PromotionConfig,
                              TierConfig, TrackingConfig)

    # the demo world's generator settings, plus what it brings (its key events, plan limit and rules)
    demo = schema_of(DemoConfig, optional=("start",),
                     extra=(("features", Dict[str, Any], {}), ("rules", Optional[str], None),
                            ("alerts", Dict[str, Any], {})))
    return {
        "data": schema_of(DataConfig, nested={"demo": demo}), "features": schema_of(FeatureConfig),
        "snapshots": schema_of(SnapshotConfig), "label": schema_of(LabelConfig),
        "backtest": schema_of(BacktestConfig), "rules": schema_of(RulesConfig),
        "calibration": schema_of(CalibrationConfig), "capacity": schema_of(CapacityConfig),
        "promotion": schema_of(PromotionConfig), "learned": schema_of(LearnedConfig), "tiers": schema_of(TierConfig),
        "tracking": schema_of(TrackingConfig), "engine": schema_of(EngineConfig, optional=("master",)),
        "monitoring": schema_of(MonitoringConfig), "alerts": schema_of(AlertsConfig),
    }


# Each command's own keys beside its groups: (name, type, default).
_OWN: dict[str, tuple[tuple[str, Any, Any], ...]] = {
    "train": (("progress", bool, True), ("debug", bool, False)),
    "serve": (
        ("as_of", str, "now"),            # ISO-8601 instant (naive = UTC) or "now"
        ("model_uri", Optional[str], None),  # default: models:/<tracking.registered_model>@champion
        ("output", Optional[str], None),  # .parquet / .csv / .duckdb file or a SQLAlchemy URL; null: scores.parquet
        ("output_dir", Optional[str], None),  # a folder: one file per day (output_pattern) instead of output
        ("output_pattern", str, "scores_{date}.parquet"),  # file name in output_dir; {date} = YYYY-MM-DD
        ("output_table", str, "pql_scores"),  # table name for database outputs
        ("output_wait_seconds", float, 30.0),  # a locked .duckdb output: wait this long, then exit 4
        ("progress", bool, True), ("debug", bool, False)),
    "features": (
        ("as_of", str, MISSING),          # the snapshot instant, ISO-8601 (naive = UTC), or now
        ("output", str, "features.parquet"),  # .parquet or .csv
        ("spec_output", Optional[str], None),  # also save the feature spec (JSON) here
        ("progress", bool, True), ("debug", bool, False)),
    "realized": (
        ("scores", Optional[str], None),  # the batch job's output: a path with {date}, a dataset folder, a database
        ("scores_dir", Optional[str], None),  # or the batch job's output_dir
        ("scores_pattern", str, "scores_{date}.parquet"),
        ("scores_table", str, "pql_scores"),
        ("horizon_days", Optional[int], None),  # null: each model version's own label horizon
        ("capacity_per_week", Optional[int], None),  # null: each model version's own weekly capacity
        ("progress", bool, False), ("debug", bool, False)),
}


def command_schema(command: str) -> type:
    """The primary schema of a command: its groups, typed; the groups a data config may carry, as Any; its own keys."""
    groups = group_schemas()
    specs: list[tuple[str, Any, Any]] = []
    for group in COMMAND_GROUPS[command]:
        kind = groups.get(group, Any)
        specs.append((group, kind, dataclasses.field(default_factory=kind) if kind is not Any else None))
    specs += [(g, Any, None) for g in CARRIED if g not in COMMAND_GROUPS[command]]
    specs += [(name, kind, dataclasses.field(default=value)) for name, kind, value in _OWN[command]]
    return dataclasses.make_dataclass(f"{command.capitalize()}Schema", specs)


def register() -> None:
    """Register every command's primary schema and the model options in Hydra's ConfigStore (idempotent: a
    second call stores the same nodes again)."""
    from hydra.core.config_store import ConfigStore

    from train.config import MODEL_SCHEMAS

    store = ConfigStore.instance()
    for command in COMMAND_GROUPS:
        store.store(name=f"{command}_schema", node=command_schema(command))
    for name, cls in MODEL_SCHEMAS.items():
        store.store(group="model", name=name, node=schema_of(cls))
