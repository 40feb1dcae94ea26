"""Loading a data source: open it, map its columns, derive tables from an export, validate.

>>> from features.config import DataConfig
>>> tables, report = load_tables(DataConfig(demo={"accounts": 60, "days": 60, "start": "2024-01-01"}))
>>> tables.n_accounts, report.source
(60, 'demo world (60 accounts, 60 days from 2024-01-01, seed 7)')
"""
from __future__ import annotations

import pandas as pd

from features.config import TABLES, DataConfig
from features.data.export import apply_export
from features.errors import ConfigError
from features.data.mapping import canonical_views
from features.data.sources import Source, open_duckdb, open_folder, open_frames
from features.tables import LoadReport, Tables
from features.data.validate import validate


def open_source(config: DataConfig) -> Source:
    """The source the config points at: a folder, a DuckDB file, or the demo world."""
    if config.dir and config.duckdb:
        raise ConfigError("set either data.dir or data.duckdb, not both")
    wanted = TABLES + ((config.export or {}).get("table", "events"),) if config.export else TABLES
    if config.dir:
        return open_folder(config.dir, tuple(dict.fromkeys(wanted)))
    if config.duckdb:
        return open_duckdb(config.duckdb, tuple(dict.fromkeys(wanted)))
    from demo import DemoConfig, generate_demo

    demo = DemoConfig(**config.demo_world())
    world = generate_demo(demo)
    return open_frames({"accounts": world.accounts, "events": world.events, "conversions": world.conversions,
                        "touches": world.touches, "users": world.users,
                        "account_attributes": world.account_attributes},
                       f"demo world ({demo.accounts} accounts, {demo.days} days from {demo.start}, seed {demo.seed})")


def load_tables(config: DataConfig) -> tuple[Tables, LoadReport]:
    """Read, map, check and set aside; returns the tables and what was read and set aside.

    Raises DataError (naming table, column and problem) or ConfigError; nothing is written.
    """
    return load_source(open_source(config), config)


def load_frames(frames: dict[str, pd.DataFrame | None], config: DataConfig | None = None,
                description: str = "in-memory tables") -> tuple[Tables, LoadReport]:
    """The same as :func:`load_tables` for DataFrames in memory (``accounts``, ``events``, ...)."""
    return load_source(open_frames(frames, description), config or DataConfig())


def load_source(source: Source, config: DataConfig) -> tuple[Tables, LoadReport]:
    """:func:`load_tables` of a source already open (its connection is closed afterwards)."""
    try:
        report = LoadReport(source.description)
        if config.export:
            config, anonymous = apply_export(source, config)
            report.set_aside["events: no account id (anonymous)"] = anonymous
        fit = canonical_views(source, config)
        tables = validate(source, config, fit.get("accounts", []), report, fit.get("users", []))
    finally:
        source.con.close()
    return tables, report
