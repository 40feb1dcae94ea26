"""Typed views of the config groups the feature builder reads (built from Hydra's config at the edge).

The pure code below never sees OmegaConf: ``DataConfig.from_mapping(OmegaConf.to_container(cfg.data))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

TABLES = ("accounts", "events", "conversions", "touches", "users", "account_attributes")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "created_at"),
    "events": ("account_id", "event", "timestamp"),
    "conversions": ("account_id", "converted_at"),
    "touches": ("account_id", "touch", "timestamp"),
    "users": ("user_id", "account_id", "created_at"),
    "account_attributes": ("account_id", "attribute", "value", "valid_from"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (),
    "events": ("user_id", "quantity"),
    "conversions": ("amount",),
    "touches": (),
    "users": (),
    "account_attributes": (),
}
TIME_COLUMN = {"accounts": "created_at", "events": "timestamp", "conversions": "converted_at", "touches": "timestamp",
               "users": "created_at", "account_attributes": "valid_from"}
OPTIONAL_TABLES = ("touches", "users", "account_attributes")
ATTRIBUTE_TABLES = ("accounts", "users")  # tables whose other columns are kept (attributes of an account, a user)


def _default_columns() -> dict[str, dict[str, str | None]]:
    cols: dict[str, dict[str, str | None]] = {}
    for table in TABLES:
        names = REQUIRED_COLUMNS[table] + OPTIONAL_COLUMNS[table]
        cols[table] = {name: name for name in names}
        cols[table][f"{TIME_COLUMN[table]}_unit"] = None  # epoch numbers: s, ms or us
        cols[table][f"{TIME_COLUMN[table]}_format"] = None  # text in another format than ISO-8601: %d/%m/%Y ...
    return cols


def pick(cls: type, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys of ``values`` that are fields of dataclass ``cls`` (unknown keys are a config error)."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        from features.errors import ConfigError

        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys are {sorted(known)}")
    return values


@dataclass(frozen=True)
class DataConfig:
    """Where the tables are and how their columns map (the `data` config group)."""

    dir: str | None = None
    duckdb: str | None = None
    strict: bool = False
    timezone: str = "UTC"
    duplicates: str = "auto"
    encoding: str = "utf-8"  # CSV files: utf-8, utf-16 or latin-1
    columns: dict[str, dict[str, str | None]] = field(default_factory=_default_columns)
    export: dict[str, Any] | None = None
    demo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "DataConfig":
        """The ``data`` group from a plain mapping: ``columns`` merged over the contract's column names."""
        values = pick(cls, values)
        columns = _default_columns()
        for table, mapping in (values.pop("columns", None) or {}).items():
            columns.setdefault(table, {}).update(mapping or {})
        return cls(columns=columns, **values)

    def column(self, table: str, name: str) -> str | None:
        """The source column that holds contract column ``name`` of ``table`` (None: not mapped)."""
        return self.columns.get(table, {}).get(name, name)

    @property
    def on_demo(self) -> bool:
        """True when no source is given: the built-in demo world."""
        return not (self.dir or self.duckdb)

    def unit(self, table: str) -> str | None:
        """The epoch unit (s, ms, us) of a table's time column, when it holds numbers."""
        return self.columns.get(table, {}).get(f"{TIME_COLUMN[table]}_unit")

    def brings(self) -> dict[str, Any]:
        """What the source brings for itself, used where the config leaves a setting unset: the demo world
        brings its own key events, plan limit, rules and alerts warm-up (``data.demo.features``,
        ``data.demo.rules`` and ``data.demo.alerts``, written in ``conf/data/demo.yaml``); a folder or a
        database brings nothing.

        >>> DataConfig(demo={"features": {"key_events": ["a"]}, "rules": "demo"}).brings()
        {'key_events': ['a'], 'plan_limits': {}, 'rules': 'demo'}
        >>> DataConfig(dir="exports", demo={"rules": "demo"}).brings()
        {}
        """
        if not self.on_demo:
            return {}
        from demo import brings

        return brings(self.demo)

    def demo_world(self) -> dict[str, Any]:
        """The demo world's generator settings (``data.demo`` without what it brings); a ``start`` left null
        is the day that makes the world end at today's midnight (UTC), so ``serve as_of=now`` fits it."""
        from demo import DemoConfig

        settings = {k: v for k, v in self.demo.items() if k not in ("features", "rules", "alerts")}
        if settings.get("start") is None:
            import pandas as pd

            days = int(settings.get("days", DemoConfig.days))
            today = pd.Timestamp.now(tz="UTC").floor("D").tz_localize(None)
            settings["start"] = f"{today - pd.Timedelta(days=days):%Y-%m-%d}"
        return settings


@dataclass(frozen=True)
class FeatureConfig:
    """What the feature builder makes (the `features` config group)."""

    windows: tuple[int, ...] = (7, 30, 90)
    trend_days: int = 7
    event_types: tuple[str, ...] | None = None
    max_event_types: int = 30
    quantity: bool = True
    key_events: tuple[str, ...] | None = None  # None: what the data source brings (the demo world: its own)
    max_categories: int = 50
    plan_limits: dict[str, dict[str, str]] | None = None  # None: what the data source brings
    id_like_share: float | None = 0.9  # text fit columns with distinct values on this share of accounts: ids, dropped
    exclude_columns: tuple[str, ...] = ()  # accounts columns that are not fit attributes (ids, free text, ...)
    labels: Mapping[str, str] | None = None  # readable names of columns and event types (Mapping: free keys on the CLI)
    buyers: Mapping[str, str] | None = None  # the buyer persona: users column -> regex (None: features.people.BUYERS)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "FeatureConfig":
        """The ``features`` group from a plain mapping: lists as tuples, windows as sorted distinct days."""
        values = pick(cls, values)
        for key in ("windows", "event_types", "key_events", "exclude_columns"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        if "windows" in values:
            values["windows"] = tuple(sorted({int(w) for w in values["windows"]}))
        if values.get("plan_limits") is not None:
            values["plan_limits"] = {k: dict(v) for k, v in values["plan_limits"].items()}
        for key in ("labels", "buyers"):
            if values.get(key) is not None:
                values[key] = {str(k): str(v) for k, v in values[key].items()}
        return cls(**values)

    def for_source(self, data: "DataConfig") -> "FeatureConfig":
        """Key events and plan limits left unset (None) take what the source brings (:meth:`DataConfig.brings`):
        the demo world's own on the demo world, none on your data."""
        from dataclasses import replace

        brings = data.brings()
        events = self.key_events if self.key_events is not None else tuple(brings.get("key_events") or ())
        limits = self.plan_limits if self.plan_limits is not None else dict(brings.get("plan_limits") or {})
        return replace(self, key_events=events, plan_limits={k: dict(v) for k, v in limits.items()})


@dataclass(frozen=True)
class SnapshotConfig:
    """The as-of grid for training (the `snapshots` config group)."""

    every_days: int = 7
    weekday: int = 0
    first: str | None = None
    last: str | None = None
    min_history_days: int = 7
    start_share: float = 0.02  # the grid starts once this share of accounts exists (an early outlier cannot stretch it)
    max_snapshots: int | None = None
    first_look: bool = True  # also look at each account on its first midnight (converters of the first days)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "SnapshotConfig":
        """The ``snapshots`` group from a plain mapping (an unknown key is a ConfigError)."""
        return cls(**pick(cls, values))


@dataclass(frozen=True)
class LabelConfig:
    """The label (the `label` config group): converts in [t, t + horizon_days)."""

    horizon_days: int = 30
    data_end: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "LabelConfig":
        """The ``label`` group from a plain mapping (an unknown key is a ConfigError)."""
        return cls(**pick(cls, values))
