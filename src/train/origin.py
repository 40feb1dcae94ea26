"""Where a model's training data came from, as the model records it: the source in words and a fingerprint
of the source and its mapping (two models with different fingerprints did not learn from the same data)."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from features.config import DataConfig


@dataclass(frozen=True)
class Origin:
    """The data's source and fingerprint (recorded in the model's metadata when given) and the notes a run
    keeps with its summary (e.g. which rules file was used)."""

    source: str | None = None
    fingerprint: str | None = None
    notes: tuple[str, ...] = ()

    def meta(self) -> dict[str, str]:
        """The model metadata keys: ``data_source`` and ``data_fingerprint`` (none when the source is unknown)."""
        if self.source is None:
            return {}
        return {"data_source": self.source, "data_fingerprint": self.fingerprint}


def data_source(data: DataConfig) -> str:
    """Where the data came from, for people (tags, descriptions)."""
    if data.dir:
        return f"folder {Path(data.dir).resolve()}"
    if data.duckdb:
        return f"DuckDB {Path(data.duckdb).resolve()}"
    return "demo world"


def source_name(data: DataConfig) -> str | None:
    """A short name of the data source for an experiment's name: the folder's or DuckDB file's name in lower
    case, other characters as '-' (``~/logs/Lead Funnel`` -> ``lead-funnel``); None for the demo world."""
    path = Path(data.dir).resolve().name if data.dir else Path(data.duckdb).stem if data.duckdb else ""
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:40].strip("-")
    return name or None


def fingerprint(data_config: Mapping[str, Any]) -> str:
    """A short hash of the data source and its mapping: two models with different fingerprints did not
    learn from the same data (paths are made absolute; the demo world's size and seed count)."""
    cfg = dict(data_config)
    for key in ("dir", "duckdb"):
        if cfg.get(key):
            cfg[key] = str(Path(cfg[key]).resolve())
    if cfg.get("dir") or cfg.get("duckdb"):
        cfg.pop("demo", None)
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def origin_of(data: DataConfig, data_config: Mapping[str, Any], notes: list[str] = ()) -> Origin:
    """The origin of a run on ``data`` (``data_config``: the plain ``data`` group it was read from)."""
    return Origin(data_source(data), fingerprint(data_config), tuple(notes))
