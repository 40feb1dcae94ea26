"""The thin layer over Hydra's own checks: values a type cannot refuse, and one line for every mistake.

Hydra composes each command's config against its schema (``app.schema``) and refuses unknown keys and
wrong types itself; :func:`check_config` then builds each group's typed view (whose ``__post_init__``
checks ranges and choices), parses ``as_of``, and checks the feature command's outputs -- a
ConfigError (exit 2) naming the key, before any data is read. :func:`schema_error` and
:func:`unknown_key_message` word OmegaConf's errors as that one line.

>>> from omegaconf import OmegaConf
>>> check_config(OmegaConf.create({"capacity": {"per_week": "abc"}}))
Traceback (most recent call last):
...
features.errors.ConfigError: config key 'capacity.per_week': 'abc' is not an integer
>>> unknown_key_message("evaluation.capacity_per_week", ["data", "capacity"])
"config key 'evaluation.capacity_per_week' is now 'capacity.per_week'"
"""
from __future__ import annotations

import difflib
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from app.schema import group_schemas
from features.errors import ConfigError

_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "text"}
# keys that moved (the `evaluation` group became `capacity`, `promotion` and `learned`): old prefix -> new
RENAMED = {"evaluation.capacity_per_week": "capacity.per_week", "evaluation.reps": "capacity.reps",
           "evaluation.accounts_per_rep_per_week": "capacity.accounts_per_rep_per_week",
           "evaluation.champion_metric": "promotion.metric", "evaluation.promote": "promotion.mode",
           "evaluation.top_fractions": "backtest.top_fractions", "evaluation.ece_bins": "backtest.ece_bins",
           "evaluation.learned": "learned", "monitoring.psi_bins": "(none: drift bins are set at training)"}


def _typed_views() -> dict[str, Callable[[Any], Any]]:
    """Group -> the function building its typed view from the plain group (its checks run there)."""
    from engines.settings import EngineConfig
    from features.config import DataConfig, FeatureConfig, LabelConfig, SnapshotConfig
    from rules.files import RulesConfig
    from serve.monitor import MonitoringConfig
    from train.config import (BacktestConfig, CalibrationConfig, CapacityConfig, LearnedConfig, ModelConfig,
                              PromotionConfig, TierConfig, TrackingConfig)
    from train.settings import typed

    def group(cls: type) -> Callable[[Any], Any]:
        return lambda values: typed(cls, values)

    return {"data": DataConfig.from_mapping, "features": FeatureConfig.from_mapping,
            "snapshots": SnapshotConfig.from_mapping, "label": LabelConfig.from_mapping,
            "backtest": group(BacktestConfig), "capacity": group(CapacityConfig), "promotion": group(PromotionConfig),
            "learned": group(LearnedConfig), "tiers": group(TierConfig), "tracking": group(TrackingConfig),
            "calibration": group(CalibrationConfig), "monitoring": group(MonitoringConfig),
            "rules": group(RulesConfig), "engine": EngineConfig.from_mapping, "model": ModelConfig.from_mapping}


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
        if "Incompatible value 'None'" in value or "cannot be assigned None" in value or "is not Optional" in value:
            return ConfigError(f"config key '{key}' cannot be null")
        if "is not a valid bool" in value:
            return ConfigError(f"config key '{key}': {bad!r} is not true or false")
    return ConfigError(f"config key '{key}': {value.splitlines()[0] if value else type(exc).__name__}")


def unknown_key_message(key: str, known: list[str], parent: str = "") -> str:
    """``unknown config key 'capacity.per_weak' (did you mean 'capacity.per_week'?)``; a key that moved says where."""
    for old, new in RENAMED.items():
        if key == old or key.startswith(old + "."):
            return f"config key '{key}' is now '{new}{key[len(old):]}'"
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.6)
    where = f"{parent}." if parent else ""
    hint = f" (did you mean '{where}{close[0]}'?)" if close else (
        f"; known keys{' of ' + repr(parent) if parent else ''}: {', '.join(sorted(known))}" if known else "")
    return f"unknown config key '{key}'{hint}"


def _check_types(cfg: DictConfig) -> None:
    """Each group against its schema (Hydra did this while composing; a config built by hand gets it here)."""
    for group, schema in group_schemas().items():
        node = cfg.get(group) if group in cfg else None
        if node is None:
            continue
        try:  # as plain values: a key added with `+key=...` is not in the schema
            OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(node, resolve=True))
        except (oc_errors.ValidationError, oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError,
                oc_errors.ConfigTypeError) as exc:
            raise schema_error(exc, group, OmegaConf.structured(schema)) from exc


def check_config(cfg: DictConfig, command: str | None = None) -> None:
    """Refuse a composed config that cannot work, before any data is read (ConfigError, exit 2)."""
    _check_types(cfg)
    views = _typed_views()
    for group in [g for g in views if g in cfg and cfg.get(g) is not None]:
        if group == "model" and command != "train":
            continue  # a data config may carry it; only training reads it
        views[group](OmegaConf.to_container(cfg[group], resolve=True))
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
    """``as_of`` is given and parses as an instant (ISO-8601 or ``now``)."""
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
