"""Which hand-defined PQL rules a run compares with: a shipped set, the user's own file, or none.

The Hydra group ``rules`` has two keys: ``definitions`` (inline rules; ``null`` = what the data
source brings) and ``file`` (a YAML file, or the name of a shipped set).  Every rule is parsed
here, so a mistake fails as a ConfigError (exit 2) before any data is read.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from features.errors import ConfigError
from rules.language import RuleError, RuleSet, check_keys

__all__ = ["ResolvedRules", "RulesConfig", "resolve_rules"]

_AUTO = "auto"  # conf/rules/auto.yaml is the "decide by data source" default, not a rule set
_NONE = "none"


@dataclass(frozen=True)
class RulesConfig:
    """The ``rules`` config group: inline ``definitions`` (name -> description and expression; null: what the
    data source brings, ``rules=auto``) or a YAML ``file`` (a path, or the name of a shipped set)."""

    definitions: dict[str, Any] | None = None
    file: str | None = None


@dataclass(frozen=True)
class ResolvedRules:
    """The parsed rules of a run, where they came from, and a line worth printing (or None)."""

    definitions: dict[str, dict[str, str]]
    origin: str
    note: str | None


def resolve_rules(rules: Mapping[str, Any] | None, brought: str | None, conf_dir: str | Path) -> ResolvedRules:
    """The rules to compare with, from the ``rules`` config group; ConfigError for anything unusable.
    ``brought``: the rules the data source brings for itself (a shipped set's name or a path; the demo
    world's ``data.demo.rules``), used when the group leaves the rules unset (``rules=auto``)."""
    shipped_dir = Path(conf_dir) / "rules"
    group = _plain(rules)
    extra = sorted(map(str, set(group) - {"definitions", "file"}))
    if extra:
        raise ConfigError(f"rules: unexpected keys {extra} (expected 'definitions' and 'file')")
    definitions, file = group.get("definitions"), group.get("file")
    if file is not None and str(file).strip():
        if definitions:
            raise ConfigError(f"rules: set either rules.file or inline rules.definitions, not both "
                              f"(rules.file={file}; rules.file works with the default rules=auto or rules=none)")
        path, origin = _locate(str(file).strip(), shipped_dir)
        return _checked(_load(path), origin, path)
    if definitions is None:
        if brought:
            path, origin = _locate(str(brought), shipped_dir)
            return _checked(_load(path), origin, path)
        names = ", ".join(n for n in _shipped(shipped_dir) if n != _NONE)
        return ResolvedRules({}, "none", f"no hand-defined PQL rules given (rules=<name> picks a shipped set: "
                                         f"{names}; rules.file=PATH reads your own): the backtest reports the model alone")
    if not definitions and isinstance(definitions, Mapping):
        return ResolvedRules({}, "none", None)
    return _checked(definitions, _shipped_origin(definitions, shipped_dir) or "inline definitions", None)


def _plain(node: Any) -> dict[str, Any]:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    if node is not None and not isinstance(node, Mapping):
        raise ConfigError(f"rules: expected a mapping with 'definitions' and 'file', got {type(node).__name__}")
    return dict(node or {})


def _shipped(shipped_dir: Path) -> list[str]:
    """Names of the shipped rule sets (conf/rules/<name>.yaml)."""
    return sorted(p.stem for p in shipped_dir.glob("*.yaml") if p.stem != _AUTO)


def _locate(value: str, shipped_dir: Path) -> tuple[Path, str]:
    """A path (relative to the working directory) or a shipped set's name -> (file, origin)."""
    local = Path(value).expanduser()
    bare = "/" not in value and os.sep not in value and not value.startswith("~")
    stem = value.removesuffix(".yaml")
    shipped = bare and stem in _shipped(shipped_dir)
    if shipped:
        clash = [p for p in dict.fromkeys((Path(value), Path(stem), Path(f"{stem}.yaml"))) if p.is_file()]
        if clash:
            raise ConfigError(f"rules.file={value} is ambiguous: both the local file {clash[0].resolve()} and the "
                              f"shipped rule set '{stem}'; write rules.file=./{clash[0]} for the file, "
                              f"or rules={stem} for the shipped set")
        return shipped_dir / f"{stem}.yaml", f"shipped rule set '{stem}'"
    if local.is_file():
        return local.resolve(), f"file {local.resolve()}"
    what = "is a directory" if local.is_dir() else "no such file"
    hint = f" (did you mean rules.file=./{value}.yaml?)" if bare and Path(f"{value}.yaml").is_file() else ""
    raise ConfigError(f"rules.file={value}: {what} ({local.resolve()}) and no shipped rule set of that name "
                      f"(shipped: {', '.join(_shipped(shipped_dir))}){hint}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a repeated key (a rule defined twice) is an error, not silently dropped.
    Merge keys (``<<: *defaults``) work as in safe_load: a key written beside them overrides the merged one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # SafeLoader folds these in (flatten_mapping)
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load(path: Path) -> Any:
    """The rules mapping of a file holding ``definitions: {...}`` or the rules mapping itself."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"rules file {path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"rules file {path}{line}: invalid YAML: {problem}") from None
    if isinstance(data, Mapping) and "definitions" in data:
        extra = sorted(map(str, set(data) - {"definitions", "file"}))
        if extra or data.get("file") is not None:
            raise ConfigError(f"rules file {path}: next to 'definitions' only 'file: null' is allowed, "
                              f"got {extra or ['file']}")
        data = data["definitions"]
    if data is None:
        raise ConfigError(f"rules file {path}: holds no rules (write 'definitions: {{}}' to compare with none)")
    return data


def _shipped_origin(definitions: Mapping[str, Any], shipped_dir: Path) -> str | None:
    """'shipped rule set <name>' when inline definitions are exactly a shipped set (rules=<name>)."""
    for name in _shipped(shipped_dir):
        try:
            if _load(shipped_dir / f"{name}.yaml") == definitions:
                return f"shipped rule set '{name}'"
        except ConfigError:
            continue
    return None


def _checked(definitions: Any, origin: str, path: Path | None) -> ResolvedRules:
    """Validate the structure and parse every rule; errors name the rule and where it came from."""
    if not isinstance(definitions, Mapping):
        raise ConfigError(f"rules from {origin}: expected a mapping name -> {{description, expression}}, "
                          f"got {type(definitions).__name__}")
    for name, spec in definitions.items():
        where = f"rules from {origin}{_line_of(path, name)}"
        try:
            check_keys(name, spec)
        except RuleError as exc:
            raise RuleError(f"{where}: {exc}") from None
        if not isinstance(spec.get("expression"), str):
            raise RuleError(f"{where}: rule '{name}': expected a mapping with a string 'expression' "
                            f"(and an optional 'description')")
        if not isinstance(spec.get("description") or "", str):
            raise RuleError(f"{where}: rule '{name}': 'description' must be text")
        try:
            RuleSet.from_config({name: spec})
        except RuleError as exc:
            raise RuleError(f"{where}: {exc}") from None
    return ResolvedRules(RuleSet.from_config(definitions).to_dict(), origin, None)


def _line_of(path: Path | None, name: Any) -> str:
    """', line N' of a rule's name in its file (empty when unknown): errors point at the spot."""
    if path is None:
        return ""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    for _ in range(2):  # the rules mapping itself, or the one under 'definitions'
        if not isinstance(node, yaml.MappingNode):
            return ""
        keys = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        if str(name) in keys and "definitions" not in keys:
            return f", line {keys[str(name)][0].start_mark.line + 1}"
        node = keys.get("definitions", (None, None))[1]
    return ""
