"""Checking the canonical tables and turning them into :class:`~features.tables.Tables`: the order of the
steps, and the whole-table rules both engines apply (``data.strict``, accounts created long before the bulk).

Errors (the run stops, nothing is written): a missing table or column, a null key, an
unparseable timestamp, a duplicate account id, a non-numeric quantity or amount, an empty
``accounts`` or ``events`` table, a table none of whose rows can be kept, account ids whose types
differ between tables unless they match without loss. Rows that can be set aside safely are set
aside and counted: exact duplicate events or touches, events before their account existed, events
or touches whose quantity is NaN or infinite, events, conversions and touches of accounts missing
from ``accounts``, later conversions of an account that already converted. ``data.strict=true``
turns every set-aside row into an error. Accounts created long before the bulk are noted.

The steps: :mod:`~features.data.keys` (the accounts, and the key every table joins on),
:mod:`~features.data.logs` (events and touches; :mod:`~features.data.duplicates` finds exact repeats),
:mod:`~features.data.conversions`; each checks its columns with :mod:`~features.data.checks`.

The account ids and event names of a log read from Parquet are coded from the files' dictionaries
(:mod:`features.data.parquet_log`) instead of a DuckDB join of tens of millions of text ids: same rows,
same codes, same report and errors (the rows in the files' order, where the join's order varied).
"""
from __future__ import annotations

import numpy as np

from features.config import DataConfig
from features.data.attributes import TABLE as ATTRIBUTES, read_attributes
from features.data.conversions import read_conversions
from features.data.keys import read_accounts, register_keys
from features.data.logs import read_log
from features.data.sources import Source
from features.data.users import read_users
from features.errors import DataError
from features.tables import NEVER, LoadReport, Tables
from features.windows import DAY_US, from_us


def validate(source: Source, config: DataConfig, fit: list[str], report: LoadReport,
             user_columns: list[str] | None = None) -> Tables:
    """Check every table, set aside what can be, and return the tables the builder works on; ``user_columns``
    are the users table's own columns (title, role, ...), kept with it."""
    accounts = read_accounts(source, config, fit, report)
    created_us = accounts["created_at"].to_numpy().view("int64")
    note_outliers(created_us, report)
    logs = ["events", "conversions"] + [t for t in ("touches", "users", ATTRIBUTES) if t in source.tables]
    join_on = register_keys(source, ["accounts", *logs], config, report, accounts["account_id"])
    # the users first: they are small, and a bad row should stop the run before the events are read
    users = read_users(source, config, join_on["users"], user_columns or [], report) if "users" in join_on else None
    # the attribute history too: a bad row stops the run before the (big) event log is read
    history = read_attributes(source, config, join_on.get(ATTRIBUTES, "t.account_id"), accounts, report,
                              tuple(c for c in fit if c not in accounts.columns))
    events = read_log(source, "events", config, join_on["events"], accounts["account_id"], created_us, report,
                      before_created=True)
    if report.rows_read["events"] == 0:
        raise DataError("events", None, "is empty")
    conversions, converted_us = read_conversions(source, config, len(accounts), join_on["conversions"], report)
    # Marketing touches before signup are legitimate history (a lead nurtured before it signed up).
    touches = (read_log(source, "touches", config, join_on["touches"], accounts["account_id"], created_us, report,
                        before_created=False)
               if "touches" in source.tables else None)
    check_strict(report, config.strict)
    ends = [events.ts.max() if len(events) else np.iinfo(np.int64).min]
    if touches is not None and len(touches):
        ends.append(touches.ts.max())
    finite = converted_us[converted_us != NEVER]
    if len(finite):
        ends.append(finite.max())
    fit_columns = tuple(c for c in accounts.columns if c not in ("account_id", "created_at"))
    fit_columns += tuple(n for n in (history.names if history else ()) if n not in fit_columns)
    return Tables(accounts=accounts, created_us=created_us, converted_us=converted_us, events=events,
                  touches=touches, fit_columns=fit_columns, data_end_us=int(max(ends)) + 1, conversions=conversions,
                  users=users, attributes=history)


def check_strict(report: LoadReport, strict: bool) -> None:
    """With ``data.strict=true``, any row set aside is an error naming its table and why (both engines)."""
    bad = {k: n for k, n in report.set_aside.items() if n}
    if strict and bad:
        kind, count = next(iter(bad.items()))
        table, what = kind.split(": ", 1)
        raise DataError(table, None, f"{count:,} rows would be set aside ({what}); data.strict=true makes "
                                     f"this an error (all: {bad})")


OUTLIER_GAP_DAYS = 365  # accounts created this long before the first percentile of created_at are noted, ...
OUTLIER_SPANS = 3  # ... as are those created this many spans of the middle 80% before its start (a default date
# shared by more than 1% of the accounts): both from the data's own time span, never a calendar date


def note_outliers(created_us: np.ndarray, report: LoadReport) -> None:
    """A note counting accounts created long before the bulk (a 1970 default date, a test account):
    they do not stretch the snapshot grid (``snapshots.start_share``), but they should be seen."""
    if len(created_us) < 2:
        return
    ordered = np.sort(created_us)
    bulk = int(ordered[min(int(np.ceil(0.01 * len(ordered))), len(ordered) - 1)])  # as snapshots.grid counts
    low, high = (int(ordered[int(q * (len(ordered) - 1))]) for q in (0.1, 0.9))
    far = low - OUTLIER_SPANS * max(high - low, OUTLIER_GAP_DAYS * DAY_US)
    early = (created_us < bulk - OUTLIER_GAP_DAYS * DAY_US) | (created_us < far)
    if early.any():
        first = from_us([int(ordered[0])])[0]
        report.notes.append(
            f"accounts: {int(early.sum()):,} account{'s' if early.sum() > 1 else ''} created long before the bulk "
            f"(over {OUTLIER_GAP_DAYS} days before the first percentile of created_at, "
            f"{from_us([bulk])[0]:%Y-%m-%d}, or before {from_us([far])[0]:%Y-%m-%d}, {OUTLIER_SPANS} times the span "
            f"of the middle 80% before it); the earliest on {first:%Y-%m-%d}: check created_at of these accounts "
            f"(the snapshot grid starts where the accounts are, see snapshots.start_share)")
