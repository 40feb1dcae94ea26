"""Checks of a composed command config, run right after Hydra composes it and before any data is read.

The config groups are validated against schemas derived from the typed config dataclasses
(``features.config``, ``train.settings``): a key the dataclass does not have, or a value of the wrong
type, is a ``ConfigError`` (exit 2) naming the key. Adding a field to a dataclass adds it to the schema.
``as_of`` must parse as an instant, ``progress`` and ``debug`` must be booleans, and the feature
command's outputs must be writable files of a supported kind.

>>> from omegaconf import OmegaConf
>>> check_config(OmegaConf.create({"evaluation": {"capacity_per_week": "abc"}}))
Traceback (most recent call last):
...
features.errors.ConfigError: config key 'evaluation.capacity_per_week': 'abc' is not an integer
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from typing import Any, Dict, List, Optional, Union

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from features.errors import ConfigError

_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "text"}


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
    if isinstance(value, tuple):
        return [_plain_default(v) for v in value]
    if isinstance(value, list):
        return [_plain_default(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_default(v) for k, v in value.items()}
    return value


def schema_of(cls: type, nested: dict[str, type] | None = None, optional: tuple[str, ...] = ()) -> type:
    """A mutable, OmegaConf-checkable dataclass with the fields of dataclass ``cls``: ``nested`` gives
    fields a schema of their own, ``optional`` names fields that may also be null in the YAML."""
    nested = nested or {}
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        kind = nested.get(f.name) or _schema_type(hints[f.name])
        if f.name in optional and kind is not Any:
            kind = Optional[kind]
        if f.name in nested:
            default = dataclasses.field(default_factory=nested[f.name])
        elif f.default is not dataclasses.MISSING:
            value = f.default
            default = (dataclasses.field(default_factory=functools.partial(_plain_default, value))
                       if isinstance(value, (tuple, list, dict)) else dataclasses.field(default=value))
        elif f.default_factory is not dataclasses.MISSING:
            default = dataclasses.field(default_factory=lambda make=f.default_factory: _plain_default(make()))
        else:
            default = dataclasses.field(default=None)
            kind = Optional[kind] if kind is not Any else Any
        specs.append((f.name, kind, default))
    return dataclasses.make_dataclass(cls.__name__, specs)


@functools.lru_cache(maxsize=1)
def group_schemas() -> dict[str, type]:
    """The config groups that have a typed view, each with its schema."""
    from engines.settings import EngineConfig
    from train.settings import BacktestConfig, EvaluationConfig, LearnedConfig, TierConfig, TrackingConfig

    from features.config import DataConfig, FeatureConfig, LabelConfig, SnapshotConfig
    from demo import DemoConfig

    demo = schema_of(DemoConfig, optional=("start",))
    return {
        "data": schema_of(DataConfig, nested={"demo": demo}),
        "features": schema_of(FeatureConfig),
        "snapshots": schema_of(SnapshotConfig),
        "label": schema_of(LabelConfig),
        "backtest": schema_of(BacktestConfig),
        "evaluation": schema_of(EvaluationConfig, nested={"learned": schema_of(LearnedConfig)}),
        "tiers": schema_of(TierConfig),
        "tracking": schema_of(TrackingConfig),
        "engine": schema_of(EngineConfig, optional=("master",)),
    }


def _known_keys(node: Any) -> list[str]:
    return [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []


def schema_error(exc: Exception, prefix: str, node: Any = None) -> ConfigError:
    """One line for an OmegaConf validation error of the node at ``prefix``."""
    full_key = getattr(exc, "full_key", "") or ""
    key = ".".join(part for part in (prefix, full_key) if part)
    if isinstance(exc, (oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError)):
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        known = []
        try:
            sub = OmegaConf.select(node, full_key.rsplit(".", 1)[0]) if "." in full_key else node
            known = _known_keys(sub)
        except Exception:  # noqa: BLE001 - suggestions are a courtesy
            pass
        return ConfigError(unknown_key_message(key, known, parent))
    value = getattr(exc, "msg", str(exc))
    if isinstance(exc, oc_errors.ValidationError):
        target = next((name for name in _TYPE_NAMES if f"converted to {name}" in value), None)
        bad = value.split("'")[1] if value.count("'") >= 2 else value
        if target:
            return ConfigError(f"config key '{key}': {bad!r} is not {_TYPE_NAMES[target]}")
        if "Incompatible value 'None'" in value or "cannot be assigned None" in value:
            return ConfigError(f"config key '{key}' cannot be null")
        if "is not a valid bool" in value:
            return ConfigError(f"config key '{key}': {bad!r} is not true or false")
    return ConfigError(f"config key '{key}': {value.splitlines()[0] if value else type(exc).__name__}")


def unknown_key_message(key: str, known: list[str], parent: str = "") -> str:
    """``unknown config key 'evaluation.capacty_per_week' (did you mean 'evaluation.capacity_per_week'?)``."""
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.6)
    where = f"{parent}." if parent else ""
    hint = f" (did you mean '{where}{close[0]}'?)" if close else (
        f"; known keys{' of ' + repr(parent) if parent else ''}: {', '.join(sorted(known))}" if known else "")
    return f"unknown config key '{key}'{hint}"


def check_config(cfg: DictConfig, command: str | None = None) -> None:
    """Refuse a composed config that cannot work, before any data is read (ConfigError, exit 2)."""
    for group, schema in group_schemas().items():
        if group not in cfg:
            continue
        node = cfg[group]
        if node is None:
            continue
        try:
            OmegaConf.merge(OmegaConf.structured(schema), node)
        except (oc_errors.ValidationError, oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError,
                oc_errors.ConfigTypeError) as exc:
            raise schema_error(exc, group, OmegaConf.structured(schema)) from exc
    if cfg.get("engine") is not None:
        from engines.settings import EngineConfig

        EngineConfig.from_mapping(OmegaConf.to_container(cfg.engine, resolve=True))  # values: name, partitions...
    if cfg.get("evaluation") is not None and "champion_metric" in cfg.evaluation:
        from train.settings import check_champion_metric

        check_champion_metric(cfg.evaluation.champion_metric)
    for key in ("progress", "debug"):
        if key in cfg and not OmegaConf.is_missing(cfg, key) and not isinstance(cfg[key], bool):
            raise ConfigError(f"config key '{key}': {cfg[key]!r} is not true or false")
    if "as_of" in cfg.keys():  # `in cfg` is False for a missing (???) value
        check_as_of(cfg)
    if command == "features":
        from features.io import check_output

        if "output" in cfg and cfg.output is not None:
            check_output(str(cfg.output), [])
        if cfg.get("spec_output"):
            check_output(str(cfg.spec_output), [], None, key="spec_output")


def check_as_of(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "as_of"):
        raise ConfigError("as_of is required: give as_of=YYYY-MM-DD (ISO-8601, naive = UTC) or as_of=now")
    value = cfg.as_of
    try:
        from features.windows import to_timestamp

        parsed = to_timestamp(value if not isinstance(value, (int, float)) else str(value))
        bad = parsed is None or parsed != parsed  # NaT
    except Exception:  # noqa: BLE001 - pandas raises ValueError, OutOfBoundsDatetime, TypeError ...
        bad = True
    if bad:
        raise ConfigError(f"as_of: {value!r} is not an instant; give an ISO-8601 date or time "
                          "(2024-06-03, 2024-06-03T08:00:00Z) or now")
