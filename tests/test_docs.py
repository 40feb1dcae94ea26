"""The reference pages hold: docs/config.md names every key of every config schema with its default as
composed, and every link of README.md and docs/*.md leads to a page (and a heading) that exists.

The keys come from the schemas themselves (``app.schema.group_schemas()``, each model option in Hydra's
ConfigStore, ``app.schema.command_schema(cmd)``), so a new key cannot go undocumented. The commands of
these pages are run by tests/test_readme.py.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from app.preflight import compose_config
from app.schema import CARRIED, COMMAND_GROUPS, command_schema, group_schemas, register

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "config.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MODULE = {"train": "train", "serve": "serve", "features": "features", "realized": "serve.realized"}
ROW = re.compile(r"^\|\s*`([^`|]+)`\s*\|\s*(.*?)\s*\|", re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _sections(text: str) -> dict[str, str]:
    """Each ``##`` / ``###`` heading of a page and the text under it (to the next heading)."""
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    return {parts[i].lstrip("#").strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _rows(text: str) -> dict[str, str]:
    """Table rows ``| `key` | default | ...`` of a text: key -> its default cell."""
    return {m.group(1): m.group(2) for m in ROW.finditer(text)}


def _keys(schema: type, prefix: str) -> list[str]:
    """Every key of a schema, dotted, nested schemas included (``data.demo.accounts``)."""
    out = []
    for f in dataclasses.fields(schema):
        out.append(f"{prefix}.{f.name}")
        if dataclasses.is_dataclass(f.type):
            out += _keys(f.type, f"{prefix}.{f.name}")
    return out


def _model_keys() -> dict[str, list[str]]:
    """The keys of each model option (``model=lightgbm``, ``model=logistic``), from Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    register()
    store = ConfigStore.instance()
    return {name.removesuffix(".yaml"): [f"model.{k}" for k in store.load(f"model/{name}").node]
            for name in store.list("model")}


def group_keys() -> list[str]:
    """Every key of every config group (each model option's included)."""
    keys = [key for group, schema in group_schemas().items() for key in _keys(schema, group)]
    return keys + sorted({k for ks in _model_keys().values() for k in ks})


def own_keys(command: str) -> list[str]:
    """A command's own keys (not its groups, nor the groups a data config may carry)."""
    groups = set(COMMAND_GROUPS[command]) | set(CARRIED)
    return [f.name for f in dataclasses.fields(command_schema(command)) if f.name not in groups]


def _render(value: Any) -> str | None:
    """A composed value as the page writes it (None: a mapping the page describes in words)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) or "" for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else None
    return str(value)


def _composed(command: str, overrides: list[str] = ()) -> dict:
    cfg = compose_config(command, list(overrides))
    return OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)


def _value(config: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        config = config[part]
    return config


def _check_default(key: str, cell: str, composed: Any) -> str | None:
    """A mismatch between a documented default (a single `code` cell) and the composed one, or None."""
    match = re.fullmatch(r"`([^`]*)`", cell)
    if not match:
        return None  # described in words: "the settings below", "required", ...
    expected = _render(composed)
    if expected is not None and match.group(1) != expected:
        return f"{key}: docs/config.md says `{match.group(1)}`, the composed default is `{expected}`"
    return None


def test_config_page_names_every_group_key():
    text = CONFIG.read_text(encoding="utf-8")
    headings = _sections(text)
    missing_groups = [g for g in group_schemas() if f"`{g}`" not in headings]
    assert not missing_groups, f"docs/config.md has no section for the groups {missing_groups}"
    documented = _rows(text)
    missing = [k for k in group_keys() if k not in documented]
    assert not missing, f"docs/config.md does not document {missing}"


@pytest.mark.parametrize("command", sorted(COMMAND_GROUPS))
def test_config_page_names_every_command_key(command):
    heading = f"`python -m {MODULE[command]}`"
    sections = _sections(CONFIG.read_text(encoding="utf-8"))
    assert heading in sections, f"docs/config.md has no section {heading}"
    rows = _rows(sections[heading])
    missing = [k for k in own_keys(command) if k not in rows]
    assert not missing, f"docs/config.md, section {heading}, does not document {missing}"
    composed = _composed(command)
    wrong = [w for k in own_keys(command) if (w := _check_default(k, rows[k], composed.get(k)))]
    assert not wrong, "\n".join(wrong)


def test_config_page_gives_the_composed_defaults():
    rows = _rows(CONFIG.read_text(encoding="utf-8"))
    models = _model_keys()
    composed: dict[tuple[str, str], dict] = {}  # (command, model option) -> its composed config
    wrong = []
    for key in group_keys():
        group = key.split(".", 1)[0]
        command = next(c for c in sorted(COMMAND_GROUPS) if group in COMMAND_GROUPS[c])  # a command that reads it
        option = next((name for name, keys in models.items() if key in keys), "lightgbm")
        if (command, option) not in composed:
            composed[command, option] = _composed(command, [f"model={option}"] if command == "train" else [])
        if key in rows and (problem := _check_default(key, rows[key], _value(composed[command, option], key))):
            wrong.append(problem)
    assert not wrong, "\n".join(wrong)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_links_lead_somewhere(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(target)
        elif anchor and where.suffix == ".md":
            headings = re.findall(r"^#{1,6} (.*)$", where.read_text(encoding="utf-8"), re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{page.name}: links to nowhere {broken}"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in PAGES[1:] if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"
