"""Deriving ``accounts`` and ``conversions`` from one raw event export (Segment/Amplitude style).

Many teams have only an event log with attributes inline. With ``data.export`` set, the file
named by ``export.table`` (default ``events``) is that log, and:

* ``accounts``: one row per account id; ``created_at`` is the account's first value of
  ``export.accounts.created_at`` (a registration column) or, when that is null, its first event;
  each column in ``export.accounts.attributes`` becomes a fit attribute: its first known value.
* ``conversions``: the first event per account matching ``export.conversions`` -- either
  ``{event: NAME}`` (an event type) or ``{column: COL, values: [...]}`` (a condition on a column).
* rows with an empty account id (anonymous traffic) are set aside and counted.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from features.config import DataConfig, _default_columns
from features.errors import ConfigError, DataError
from features.data.mapping import mapped, time_format, timestamp_sql
from features.data.sources import Source, encoding_of, table_name
from features.data.sql import literal, quote, shown


def _condition(spec: dict[str, Any], event_col: str, available: dict[str, str]) -> str:
    """SQL condition selecting conversion events."""
    if spec.get("event") is not None:
        return f"CAST({quote(event_col)} AS VARCHAR) = {literal(spec['event'])}"
    column, values = spec.get("column"), spec.get("values")
    if column is None or not values:
        raise ConfigError("data.export.conversions: give either `event: NAME` or `column: COL` with `values: [...]`")
    column = str(column)
    if column not in available:
        raise DataError("events", shown(column), f"is not there (data.export.conversions.column); "
                        f"the export has columns {sorted(available)}")
    options = ", ".join(literal(v) for v in values)
    return f"CAST({quote(column)} AS VARCHAR) IN ({options})"


def apply_export(source: Source, config: DataConfig) -> tuple[DataConfig, int]:
    """Define raw accounts/conversions/events views from the export; returns the config to map them
    with and the number of anonymous rows set aside."""
    spec = dict(config.export or {})
    table = table_name(spec.get("table", "events"), "data.export.table")
    source.read_pending(encoding_of(config))
    if table not in source.tables:
        raise DataError(shown(table), None, f"(the export, data.export.table) is missing from {source.description}")
    con = source.con
    # raw_events becomes the export without its anonymous rows
    con.execute(f"CREATE OR REPLACE VIEW raw_export AS SELECT * FROM {source.origin[table]}")
    available = {r[0]: r[1] for r in con.execute("DESCRIBE raw_export").fetchall()}
    acc_col, ts_col = mapped(config, "events", "account_id"), mapped(config, "events", "timestamp")
    event_col = mapped(config, "events", "event")
    for name, col in (("account_id", acc_col), ("timestamp", ts_col), ("event", event_col)):
        if col not in available:
            raise DataError("events", shown(col), f"is not there (data.columns.events.{name}); the export has columns "
                            f"{sorted(available)}")
    ts_format = time_format(con, config.columns.get("events", {}), "timestamp", "data.columns.events.timestamp")
    acc = quote(acc_col)
    ts = timestamp_sql(ts_col, available[ts_col], config.unit("events"), config.timezone, "events", ts_format)
    known = f"{acc} IS NOT NULL AND trim(CAST({acc} AS VARCHAR)) <> ''"
    anonymous = con.execute(f"SELECT count(*) FROM raw_export WHERE NOT ({known})").fetchall()[0][0]
    source.add("events", f"(SELECT * FROM raw_export WHERE {known})")

    accounts = dict(spec.get("accounts") or {})
    created = None if accounts.get("created_at") is None else str(accounts["created_at"])
    if created is not None and created not in available:
        raise DataError("events", shown(created), "is not there (data.export.accounts.created_at)")
    created_format = time_format(con, accounts, "created_at", "data.export.accounts.created_at")
    created_ts = (timestamp_sql(created, available[created], accounts.get("created_at_unit"), config.timezone, "accounts",
                                created_format) if created else None)
    first_event = f"min({ts})"
    created_sql = f"coalesce(min({created_ts}), {first_event})" if created_ts else first_event
    attrs = []
    for col in map(str, accounts.get("attributes") or []):
        if col not in available:
            raise DataError("events", shown(col), "is not there (data.export.accounts.attributes)")
        not_blank = f"{quote(col)} IS NOT NULL AND trim(CAST({quote(col)} AS VARCHAR)) <> ''"
        attrs.append(f"arg_min({quote(col)}, {ts}) FILTER (WHERE {not_blank}) AS {quote(col)}")
    source.add("accounts", f"""(SELECT {acc} AS account_id, {created_sql} AS created_at{''.join(', ' + a for a in attrs)}
        FROM raw_events GROUP BY {acc})""")
    cond = _condition(dict(spec.get("conversions") or {}), event_col, available)
    source.add("conversions", f"""(SELECT {acc} AS account_id, min({ts}) AS converted_at
        FROM raw_events WHERE {cond} GROUP BY {acc})""")

    columns = _default_columns()
    columns["events"] = {**columns["events"], **config.columns.get("events", {})}
    if "touches" in config.columns:
        columns["touches"] = {**columns["touches"], **config.columns["touches"]}
    return replace(config, columns=columns, export=None), int(anonymous)

