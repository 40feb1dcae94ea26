"""The engine settings (config group ``engine``): which engine runs the data plane, and Spark's settings."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from features.errors import ConfigError

ENGINES = ("local", "spark")
TABLE_NAMES = ("accounts", "events", "conversions", "touches")


@dataclass(frozen=True)
class EngineConfig:
    """``local`` (default) or ``spark``; ``memory_gb`` bounds the local engine, the other fields only matter for
    Spark.

    >>> EngineConfig.from_mapping({"name": "spark", "partitions": 0})
    Traceback (most recent call last):
    ...
    features.errors.ConfigError: engine.partitions: 0 must be a positive number of account buckets (or null: automatic)
    """

    name: str = "local"
    master: str | None = "local[2]"
    app_name: str = "pql-pipeline"
    conf: dict[str, Any] = field(default_factory=dict)
    partitions: int | None = None
    scratch_dir: str | None = None  # Spark: where buckets wait between stages (null: a temp folder, local masters)
    tables: dict[str, str] = field(default_factory=dict)
    scores_table: str | None = None
    memory_gb: float | None = None  # local engine: the memory budget (null: the machine's, minus a margin)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "EngineConfig":
        """The settings of the ``engine`` group (a plain mapping), checked; an unknown key is a ConfigError."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key 'engine.{unknown[0]}'; known keys of 'engine': "
                              f"{', '.join(sorted(known))}")
        nullable = ("master", "partitions", "scores_table", "memory_gb", "scratch_dir")
        config = cls(**{k: v for k, v in values.items() if v is not None or k in nullable})
        config.check()
        return config

    def check(self) -> None:
        """Raise a one-line ConfigError for a value no engine accepts (name, partitions, memory, scratch folder,
        tables)."""
        if self.name not in ENGINES:
            raise ConfigError(f"engine.name: '{self.name}' is not one of {list(ENGINES)}")
        if self.partitions is not None and int(self.partitions) < 1:
            raise ConfigError(f"engine.partitions: {self.partitions} must be a positive number of account buckets "
                              f"(or null: automatic)")
        if self.memory_gb is not None and not _positive_number(self.memory_gb):
            raise ConfigError(f"engine.memory_gb: {self.memory_gb!r} must be a positive number of GiB (or null: what "
                              f"the machine has, minus a margin)")
        if self.scratch_dir is not None and not (isinstance(self.scratch_dir, str) and self.scratch_dir.strip()):
            raise ConfigError(f"engine.scratch_dir: {self.scratch_dir!r} must be a folder (a path or a URI: "
                              f"hdfs://, s3://, file://), or null")
        bad = sorted(set(self.tables or {}) - set(TABLE_NAMES))
        if bad:
            raise ConfigError(f"engine.tables.{bad[0]}: not a table of the contract ({', '.join(TABLE_NAMES)})")
        missing = [t for t in ("accounts", "events", "conversions") if self.tables and t not in self.tables]
        if missing:
            raise ConfigError(f"engine.tables: give a catalog table for {missing[0]} too (accounts, events and "
                              f"conversions are required; touches is optional)")


def _positive_number(value: object) -> bool:
    """Whether ``value`` is a finite number above zero (not a bool, not text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 < float(value) < float("inf")
